"""Training data: the synthetic task generators (shared with the probes) and streamed real text, packed and resumable.

Layout:
    vocab, special_tokens, filler_words   the fixed word-level vocabulary and the special tokens every tokenizer shares
    tasks/                                seeded task generators, each with an independent solver
    synthetic                             task documents of one shard (SyntheticDocs) and the packed SyntheticStream
    paths, text_source, text_docs         local files / Hub datasets streamed with `datasets`, one shard of documents
    tokenizer                             HF tokenizers: load by path or Hub name, or train + cache a byte-level BPE
    mixture, packing                      token-share mixtures of sources; rows with document starts, cu_seqlens
    stream, resume                        a rank's batches per DataLoader worker slot; consumed-batch bookkeeping
    datamodule, text_datamodule, build    the Lightning DataModules (synthetic, text) and the one to build by name
    config                                DataConfig
This package imports nothing from hybrid/, kernels/ or eval/. docs/data.md is the user's guide.
"""
