"""Training data and the synthetic task generators shared with the probes.

Layout: `vocab` (fixed word-level tokenizer) and `special_tokens`; `tasks/` (seeded generators, one per task, each
with an independent solver); `synthetic` (packed, seeded, shard-aware training stream); `datamodule` and `build`
(the Lightning side); `config` (DataConfig). This package imports nothing from hybrid/, kernels/ or eval/.
"""
