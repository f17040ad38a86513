"""Every bad input is named before training, or counted and skipped, or stops the run with a clear message."""
from __future__ import annotations

import itertools
import json

import pytest

from data.build import build_datamodule
from data.config import DataConfig
from data.text.docs import TextDocs
from data.text.source import TextSource
from tests.data.corpus import make_docs, text_cfg, write_jsonl, write_parquet


def test_a_missing_path_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"data.paths: '.*nowhere.jsonl' does not exist"):
        build_datamodule(text_cfg([tmp_path / "nowhere.jsonl"], tmp_path))
    with pytest.raises(ValueError, match=r"'.*\*.parquet' matches no readable file"):
        build_datamodule(text_cfg([tmp_path / "*.parquet"], tmp_path))


def test_unknown_extensions_mixed_formats_and_no_source_are_named(tmp_path):
    (tmp_path / "a.csv").write_text("text\nhello\n")
    with pytest.raises(ValueError, match=r"'.*a.csv' has an unknown extension; valid: .json, .jsonl"):
        build_datamodule(text_cfg([tmp_path / "a.csv"], tmp_path))
    write_jsonl(tmp_path / "b.jsonl", ["x"])
    write_parquet(tmp_path / "c.parquet", ["y"])
    with pytest.raises(ValueError, match=r"mixes formats: b.jsonl \(jsonl\), c.parquet \(parquet\)"):
        build_datamodule(text_cfg([tmp_path / "b.jsonl", tmp_path / "c.parquet"], tmp_path))
    with pytest.raises(ValueError, match=r"needs data.paths=.* or data.hub="):
        build_datamodule(DataConfig(name="text"))
    with pytest.raises(ValueError, match="not both"):
        build_datamodule(DataConfig(name="text", hub="x/y", paths=[str(tmp_path / "b.jsonl")]))


def _with_bad_lines(tmp_path, n_bad: int):
    docs = make_docs(60)
    lines = [json.dumps({"text": d}) for d in docs]
    for i in range(n_bad):  # broken JSON, a non-object, a non-text field
        lines.insert(5 * i + 1, ['{"text": "unterminated', "[1, 2]", '{"text": 7}'][i % 3])
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return docs, path


def test_malformed_json_lines_are_counted_skipped_and_warned(tmp_path):
    docs, path = _with_bad_lines(tmp_path, 3)
    source = TextSource.from_config(DataConfig(name="text", paths=[str(path)], val_fraction=0.0, max_bad_lines=3))
    with pytest.warns(UserWarning, match=r"skipping malformed JSON line") as record:
        assert list(source.iter_texts()) == docs
    messages = [str(w.message) for w in record]
    assert len(messages) == 3 and "3 so far, limit data.max_bad_lines=3" in messages[-1]
    assert any("Unterminated string" in m for m in messages) and any("JSON list" in m for m in messages)


def test_too_many_malformed_lines_stop_with_a_clear_message(tmp_path):
    _, path = _with_bad_lines(tmp_path, 4)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="4 malformed JSON lines, more than "
                                                                    "data.max_bad_lines=3.*raise data.max_bad_lines"):
        build_datamodule(text_cfg([path], tmp_path, max_bad_lines=3))
    # A shard of the training stream (what a DataLoader worker reads) counts and stops the same way.
    docs = TextDocs(TextSource.from_config(text_cfg([path], tmp_path, max_bad_lines=1)), lambda texts: texts)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="2 malformed JSON lines, more than "
                                                                    "data.max_bad_lines=1"):
        list(itertools.islice(docs, 100))


def test_empty_documents_and_a_corpus_of_nothing(tmp_path):
    path = write_jsonl(tmp_path / "empty.jsonl", ["", "  ", "\n"])
    with pytest.raises(ValueError, match="holds no training document"):
        build_datamodule(text_cfg([path], tmp_path))


def test_a_missing_text_field_names_the_fields_that_exist(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", make_docs(5), field="body")
    with pytest.raises(ValueError, match=r"no field data.text_field='text'; its fields: body, id"):
        build_datamodule(text_cfg([path], tmp_path))
    pq = write_parquet(tmp_path / "a.parquet", make_docs(5), url=["u"] * 5)
    with pytest.raises(ValueError, match=r"data.text_field='content' is not a column of a.parquet; its columns: "
                                         r"text, url"):
        build_datamodule(text_cfg([pq], tmp_path, text_field="content"))


def test_a_hub_source_without_network_says_so_and_suggests_local_files(tmp_path, monkeypatch):
    import datasets
    import huggingface_hub

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError, match=r"data.hub='HuggingFaceFW/fineweb-edu' cannot be reached on the Hugging "
                                         r"Face Hub .*download its files and use data=files data.paths="):
        build_datamodule(DataConfig(name="text", hub="HuggingFaceFW/fineweb-edu", hub_config="sample-10BT",
                                    cache_dir=str(tmp_path)))


def test_a_tokenizer_larger_than_the_model_embedding_is_caught_before_training(tmp_path, corpus):
    from run.build import build_module
    from run.load import load_run_config

    _, files = corpus
    argv = ["recipe=kda_3to1", "size=tiny", "data=files", f"data.paths=[{files[0]}]", "data.vocab_size=320",
            "data.tokenizer_docs=50", f"data.cache_dir={tmp_path}"]
    cfg = load_run_config([*argv, "model.vocab_size=300"])
    dm = build_datamodule(cfg.data)
    assert dm.vocab_size == 320
    with pytest.raises(ValueError, match=r"model.vocab_size=300 is smaller than the tokenizer's 320"):
        build_module(cfg, dm.vocab_size)
    module = build_module(load_run_config(argv), dm.vocab_size)  # null takes the tokenizer's size
    assert module.model.embed.num_embeddings == 320


@pytest.mark.parametrize(("override", "match"), [
    ({"synthetic_weight": 1.0}, r"synthetic_weight=1.0 must be in \[0, 1\)"),
    ({"synthetic_weight": 0.5, "mixture": {"poetry": 1.0}}, "'poetry' is unknown"),
    ({"shuffle_buffer": 0}, "shuffle_buffer=0 must be >= 1"),
    ({"val_fraction": 1.0}, r"val_fraction=1.0 must be in \[0, 1\)"),
    ({"txt_unit": "page"}, "txt_unit='page' is unknown; valid: line, paragraph, document"),
    ({"vocab_size": 100}, r"vocab_size=100 must be >= 264 \(256 byte tokens"),
])
def test_bad_settings_are_named(tmp_path, corpus, override, match):
    _, files = corpus
    with pytest.raises(ValueError, match=match):
        build_datamodule(text_cfg(files, tmp_path, **override))
