"""Streaming text from each local format, folders and globs, and the fineweb_edu preset against a local parquet."""
from __future__ import annotations

import itertools

import pytest

from data.build import build_datamodule
from data.config import DataConfig
from data.text.source import TextSource
from tests.data.corpus import make_docs, text_cfg, write_jsonl, write_parquet


def _texts(paths, **cfg) -> list[str]:
    source = TextSource.from_config(DataConfig(name="text", paths=[str(p) for p in paths], val_fraction=0.0, **cfg))
    return list(source.iter_texts("train"))


def test_jsonl_gz_parquet_and_txt_stream_every_document_in_order(tmp_path):
    docs = make_docs(120)
    assert _texts([write_jsonl(tmp_path / "a.jsonl", docs)]) == docs
    assert _texts([write_jsonl(tmp_path / "b.jsonl.gz", docs, gz=True)]) == docs
    assert _texts([write_parquet(tmp_path / "c.parquet", docs, row_group_size=16)]) == docs
    (tmp_path / "lines.txt").write_text("\n".join(docs) + "\n")
    assert _texts([tmp_path / "lines.txt"], txt_unit="line") == docs
    (tmp_path / "paras.txt").write_text("\n\n".join(docs[:5]))
    assert _texts([tmp_path / "paras.txt"], txt_unit="paragraph") == docs[:5]
    assert _texts([tmp_path / "paras.txt"], txt_unit="document") == ["\n\n".join(docs[:5])]


def test_other_text_fields_folders_and_globs(tmp_path):
    docs = make_docs(60)
    write_jsonl(tmp_path / "x.jsonl", docs[:30], field="body")
    write_jsonl(tmp_path / "y.jsonl", docs[30:], field="body")
    assert _texts([tmp_path / "*.jsonl"], text_field="body") == docs  # sorted file order
    (tmp_path / "sub").mkdir()
    write_parquet(tmp_path / "sub" / "p.parquet", docs[:10])
    assert _texts([tmp_path / "sub"]) == docs[:10]
    assert _texts([str(tmp_path / "**" / "*.parquet")]) == docs[:10]


def test_the_validation_split_is_a_stable_disjoint_slice(tmp_path):
    docs = make_docs(400)
    path = write_jsonl(tmp_path / "a.jsonl", docs)
    source = TextSource.from_config(DataConfig(name="text", paths=[str(path)], val_fraction=0.2))
    train, val = list(source.iter_texts("train")), list(source.iter_texts("val"))
    assert sorted(train + val) == sorted(docs) and not set(train) & set(val)
    assert 40 <= len(val) <= 120  # about 20%
    assert val == list(source.iter_texts("val"))


def test_a_datamodule_batch_decodes_to_the_documents(tmp_path, corpus):
    docs, files = corpus
    dm = build_datamodule(text_cfg(files, tmp_path))
    batch = dm.consume(next(iter(dm.train_dataloader())))
    text = dm.tokenizer.decode(batch["input_ids"][1])
    pieces = [p for p in text.replace("<|bos|>", "<|eos|>").split("<|eos|>") if len(p) > 12]
    assert pieces and all(any(p in d for d in docs) for p in pieces)


def test_fineweb_edu_preset_streams_the_hub_dataset_with_its_schema(tmp_path, monkeypatch):
    """The preset's real loading code, with `datasets.load_dataset` pointed at a local parquet of the same schema."""
    import datasets

    from run.load import load_run_config

    cfg = load_run_config(["recipe=kda_3to1", "size=tiny", "data=fineweb_edu", f"data.cache_dir={tmp_path / 'tok'}",
                           "data.vocab_size=320", "data.tokenizer_docs=100", "data.seq_len=32"]).data
    assert (cfg.name, cfg.hub, cfg.hub_config, cfg.split, cfg.text_field) == (
        "text", "HuggingFaceFW/fineweb-edu", "sample-10BT", "train", "text")
    docs = make_docs(150, prefix="edu")
    n = len(docs)
    local = write_parquet(  # the columns of fineweb-edu's parquet files
        tmp_path / "000_00000.parquet", docs, id=[f"<urn:uuid:{i}>" for i in range(n)], dump=["CC-MAIN-2024-10"] * n,
        url=[f"https://example.org/{i}" for i in range(n)], file_path=["s3://x.warc.gz"] * n, language=["en"] * n,
        language_score=[0.9] * n, token_count=[len(d.split()) for d in docs], score=[3.1] * n, int_score=[3] * n)
    calls = []
    real = datasets.load_dataset

    def fake_hub(path, name=None, split=None, streaming=False, **kwargs):
        calls.append((path, name, split, streaming))
        return real("parquet", data_files=[str(local)], split="train", streaming=True)

    monkeypatch.setattr(datasets, "load_dataset", fake_hub)
    dm = build_datamodule(cfg)
    assert calls[0] == ("HuggingFaceFW/fineweb-edu", "sample-10BT", "train", True)
    batches = [dm.consume(b) for b in itertools.islice(iter(dm.train_dataloader()), 2)]
    text = dm.tokenizer.decode(batches[0]["input_ids"].flatten())
    assert "edu " in text and "CC-MAIN" not in text  # the text column only
    assert int(batches[0]["cu_seqlens"][-1]) == batches[0]["input_ids"].numel()


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_empty_documents_are_skipped(tmp_path, fmt):
    docs = ["first doc", "", "   \n ", "second doc"]
    path = write_jsonl(tmp_path / "e.jsonl", docs) if fmt == "jsonl" else write_parquet(tmp_path / "e.parquet", docs)
    assert _texts([path]) == ["first doc", "second doc"]
