"""Synthetic data: a fixed word-level vocabulary and seeded task generators, shared by training and the probes.

    vocab, special_tokens, filler_words   the vocabulary; the special tokens every tokenizer shares
    tasks/                                seeded task generators, each with an independent solver
    task_mixture                          which tasks at which weights; one document body drawn from them
    docs                                  the resumable documents of one shard (SyntheticDocs)
    stream                                packed rows of a shard (SyntheticStream)
    datamodule                            SyntheticDataModule
"""
