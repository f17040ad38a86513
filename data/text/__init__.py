"""Real text: local files or a Hub dataset, streamed, tokenized on the fly, packed.

    files        data.paths expanded into files of one format
    source       TextSource: where documents come from and how rows become document strings
    docs         one shard of tokenized documents: seeded shuffle, exact resume point (TextDocs)
    tokenizer    HF tokenizers: load by path or Hub name, or train and cache a byte-level BPE
    datamodule   TextDataModule, optionally mixed with the synthetic tasks
"""
