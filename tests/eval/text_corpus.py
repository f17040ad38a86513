"""A small generated English-like corpus for text-run tests (no network): sentences of the filler grammar with the
task vocabulary's keys, values, variables and numbers sprinkled in, so a tiny BPE learns them as 1-2 tokens each."""
from __future__ import annotations

import random
from pathlib import Path

from data.synthetic.tasks import filler


def make_texts(n: int, seed: int = 0) -> list[str]:
    """n distinct paragraphs (the index makes each unique)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = filler.make(rng, num_words=rng.randint(20, 80)).tokens
        extra = " ".join(f"k{rng.randrange(128)} v{rng.randrange(128)} x{rng.randrange(64)} {rng.randrange(100)}"
                         for _ in range(4))
        out.append(f"{i} " + " ".join(words) + " " + extra)
    return out


def write_txt(folder: Path, n: int = 600, files: int = 2) -> Path:
    """`n` paragraphs over `files` .txt files (blank-line separated, read as data.txt_unit=paragraph)."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = make_texts(n)
    per = -(-n // files)
    for f in range(files):
        (folder / f"part{f}.txt").write_text("\n\n".join(texts[f * per : (f + 1) * per]) + "\n")
    return folder
