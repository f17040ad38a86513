"""Training data: the synthetic task generators (shared with the probes) and streamed real text, packed and resumable.

Layout:
    synthetic/    the fixed word-level vocabulary, its special tokens and filler words, the seeded task generators
                  (tasks/), the weighted task mixture, its documents, stream and DataModule
    text/         local files and Hub datasets streamed with `datasets`, one shard of tokenized documents, the
                  tokenizers, and the text DataModule (optionally mixed with the synthetic tasks)
    mixture       token-share mixtures of document sources
    packing       rows with document starts, batches with cu_seqlens
    stream        a rank's batches per DataLoader worker slot, each tagged with its resume state
    resume        consumed-batch bookkeeping saved in checkpoints
    datamodule    PackedDataModule, the Lightning base every source shares
    config, build DataConfig, and the DataModule to build by data.name
This package imports nothing from hybrid/, kernels/ or eval/. docs/data.md is the user's guide.
"""
