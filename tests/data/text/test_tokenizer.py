"""Tokenizers: a trained BPE and its on-disk cache, loading by path, the shared special tokens, offline Hub names."""
from __future__ import annotations

import pytest

from data.text import tokenizer as tokenizer_module
from data.build import build_datamodule
from data.synthetic.special_tokens import BOS, EOS, QUERY, SPECIAL_TOKENS
from data.text.tokenizer import TextTokenizer, cache_path, load_tokenizer, train_bpe
from tests.data.corpus import make_docs, text_cfg


def test_trained_bpe_has_the_vocab_size_and_the_special_tokens_first():
    tok = TextTokenizer(train_bpe(make_docs(300), 300))
    assert tok.vocab_size == 300
    assert [tok.tokenizer.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
    text = "doc 7: linear attention, état 😀"
    assert tok.decode(tok.encode(text)) == text  # byte-level: any text round-trips
    doc = tok.encode_docs([text])[0]
    assert doc[0] == tok.bos_id and doc[-1] == tok.eos_id and doc.dtype.name == "int32"


def test_synthetic_task_words_keep_special_tokens_whole():
    tok = TextTokenizer(train_bpe(make_docs(100), 300))
    ids = tok.encode_words(["k1", "v2", QUERY, "k1"]).tolist()
    assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id
    assert tok.tokenizer.token_to_id(QUERY) in ids
    assert tok.decode(ids) == f"{BOS}k1 v2 {QUERY} k1{EOS}"


def test_training_is_cached_by_sources_docs_and_vocab_size(tmp_path, corpus, monkeypatch):
    _, files = corpus
    first = build_datamodule(text_cfg(files, tmp_path))
    cached = list((tmp_path / "tok").glob("bpe-*.json"))
    assert len(cached) == 1 and first.tokenizer.name == str(cached[0])

    def no_training(*args, **kwargs):
        raise AssertionError("the cached tokenizer should have been reused")

    monkeypatch.setattr(tokenizer_module, "train_bpe", no_training)
    again = build_datamodule(text_cfg(files, tmp_path))
    assert again.tokenizer.tokenizer.to_str() == first.tokenizer.tokenizer.to_str()
    monkeypatch.undo()
    build_datamodule(text_cfg(files, tmp_path, vocab_size=300))  # another size: another file
    build_datamodule(text_cfg(files, tmp_path, tokenizer_docs=100))  # other documents: another file
    build_datamodule(text_cfg(files[:2], tmp_path))  # other sources: another file
    assert len(list((tmp_path / "tok").glob("bpe-*.json"))) == 4
    key = first.source.key()
    assert cache_path("c", key, 200, 320) != cache_path("c", key, 201, 320) != cache_path("c", key, 200, 321)


def test_a_tokenizer_json_path_or_folder_loads(tmp_path, corpus):
    _, files = corpus
    trained = build_datamodule(text_cfg(files, tmp_path)).tokenizer
    (tmp_path / "mine").mkdir()
    trained.tokenizer.save(str(tmp_path / "mine" / "tokenizer.json"))
    for spec in (str(tmp_path / "mine" / "tokenizer.json"), str(tmp_path / "mine")):
        dm = build_datamodule(text_cfg(files, tmp_path, tokenizer=spec))
        assert dm.vocab_size == trained.vocab_size and dm.tokenizer.encode("doc 1") == trained.encode("doc 1")


def test_a_loaded_tokenizer_without_our_special_tokens_gets_them_appended(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    bare = Tokenizer(models.WordLevel({"hello": 0, "world": 1, "[UNK]": 2}, unk_token="[UNK]"))
    bare.pre_tokenizer = pre_tokenizers.Whitespace()
    bare.save(str(tmp_path / "bare.json"))
    tok = load_tokenizer(str(tmp_path / "bare.json"))
    assert tok.vocab_size == 3 + len(SPECIAL_TOKENS) and tok.bos_id >= 3 and tok.encode("hello world") == [0, 1]


@pytest.mark.parametrize(("spec", "match"), [
    ("./missing/tokenizer.json", r"data.tokenizer='./missing/tokenizer.json' does not exist"),
    ("gpt2", (r"data.tokenizer='gpt2' is not a local file and could not be fetched from the Hugging Face Hub.*"
              r"pass a tokenizer.json path or data.tokenizer=train")),
])
def test_missing_or_unreachable_tokenizers_are_named(spec, match, monkeypatch, tmp_path):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # no copy cached on this machine
    with pytest.raises(ValueError, match=match):
        load_tokenizer(spec)


def test_a_file_that_is_not_a_tokenizer_is_named(tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"not": "a tokenizer"}')
    with pytest.raises(ValueError, match="is not a tokenizers JSON file"):
        load_tokenizer(str(tmp_path / "tokenizer.json"))


def test_checkpoints_carry_the_tokenizer_and_a_resume_with_another_is_refused(tmp_path, corpus):
    _, files = corpus
    dm = build_datamodule(text_cfg(files, tmp_path))
    state = dm.state_dict()
    again = TextTokenizer.from_json(state["tokenizer_json"])
    assert again.encode("linear attention k1") == dm.tokenizer.encode("linear attention k1")
    other = build_datamodule(text_cfg(files, tmp_path, vocab_size=300))
    with pytest.raises(ValueError, match="another tokenizer"):
        other.load_state_dict(state)
    dm.load_state_dict(state)  # its own tokenizer: fine
