"""Real text as training data: a Hub dataset or local files, tokenized on the fly, packed, optionally mixed with tasks.

    data=files data.paths=[corpus/*.jsonl]               local files, a BPE trained on them (data.tokenizer=train)
    data=fineweb_edu                                     HuggingFaceFW/fineweb-edu, sample-10BT, streamed
    data.synthetic_weight=0.2                            20% of training tokens from the synthetic tasks

Everything that can be checked is checked here, in the constructor, before training: the source opens (paths exist,
one format, the text field exists, the Hub is reachable), it has a training document, the mixture is valid, and the
tokenizer loads or trains, which fixes `vocab_size` for the model. Per shard, TextDocs streams the text and
SyntheticDocs the tasks; a Mixture interleaves them by token share; the base class packs, batches and resumes.
Packed batches carry cu_seqlens by default (data.pack_boundaries), so no document sees another.
"""
from __future__ import annotations

import os

from lightning.pytorch.utilities import rank_zero_info

from data.config import DataConfig
from data.datamodule import PackedDataModule
from data.mixture import Mixture
from data.synthetic.docs import SyntheticDocs
from data.synthetic.stream import SyntheticStream
from data.synthetic.task_mixture import check_mixture
from data.text.docs import TextDocs
from data.text.source import TextSource
from data.text.tokenizer import TRAIN, TextTokenizer, load_tokenizer, trained_tokenizer

TOKENIZER_KEY = "tokenizer_json"
"""Where the DataModule's checkpoint state holds the run's tokenizer (tokenizer.json text)."""


class TextSources:
    """The document Mixture of a shard: the text shard, plus the synthetic tasks at `synthetic_weight` of tokens."""

    def __init__(self, source: TextSource, tokenizer: TextTokenizer, seed: int, block: int,
                 tasks: dict[str, float], synthetic_weight: float) -> None:
        self.source, self.tokenizer, self.seed, self.block = source, tokenizer, seed, block
        self.tasks, self.synthetic_weight = tasks, synthetic_weight

    def mixture(self, split: str, shard: int, num_shards: int) -> Mixture:
        text = TextDocs(self.source, self.tokenizer.encode_docs, shard=shard, num_shards=num_shards, split=split,
                        seed=self.seed, block=self.block)
        if self.synthetic_weight == 0:
            return Mixture([text], [1.0])
        key = SyntheticStream.stream_key_for(split, self.seed, 0, shard)  # seeded like the synthetic module's shard
        tasks = SyntheticDocs(self.tasks, key, self.tokenizer.encode_words)
        return Mixture([text, tasks], [1.0 - self.synthetic_weight, self.synthetic_weight])


class TextDataModule(PackedDataModule):
    """Streamed, tokenized, packed text (plus optional synthetic tasks) from `cfg`; see the module docstring."""

    boundaries_default = True

    def __init__(self, cfg: DataConfig) -> None:
        super().__init__(cfg)
        if not 0.0 <= cfg.synthetic_weight < 1.0:
            raise ValueError(f"data.synthetic_weight={cfg.synthetic_weight} must be in [0, 1) "
                             "(for tasks only use data=synthetic)")
        if cfg.shuffle_buffer < 1:
            raise ValueError(f"data.shuffle_buffer={cfg.shuffle_buffer} must be >= 1")
        tasks = check_mixture(cfg.mixture) if cfg.synthetic_weight > 0 else {}
        if cfg.num_workers > 0:
            # Workers fork after the tokenizer ran here; tokenizers' thread pool would not survive the fork.
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.source = TextSource.from_config(cfg)
        if next(self.source.iter_texts("train"), None) is None:
            raise ValueError(f"{self.source.describe()} holds no training document (all empty, malformed or held "
                             "out for validation)")
        if cfg.tokenizer == TRAIN:
            self.tokenizer = trained_tokenizer(self.source.iter_texts("train"), self.source.key(), cfg.tokenizer_docs,
                                               cfg.vocab_size, cfg.cache_dir, log=rank_zero_info)
        else:
            self.tokenizer = load_tokenizer(cfg.tokenizer)
        self.sources = TextSources(self.source, self.tokenizer, cfg.seed, cfg.shuffle_buffer, tasks,
                                   float(cfg.synthetic_weight))
        mix = f" + {cfg.synthetic_weight:.0%} synthetic tasks" if tasks else ""
        rank_zero_info(f"data: {self.source.describe()}{mix}; tokenizer {self.tokenizer.name} "
                       f"({self.vocab_size} ids); cu_seqlens {'on' if self.boundaries else 'off'}")

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def state_dict(self) -> dict:
        # The tokenizer travels in every checkpoint: `python -m eval` renders probes in the run's very ids, and a
        # resume with another tokenizer is refused instead of training on shifted ids.
        return {**super().state_dict(), TOKENIZER_KEY: self.tokenizer.to_json()}

    def load_state_dict(self, state_dict: dict) -> None:
        saved = state_dict.get(TOKENIZER_KEY)
        if saved is not None and saved != self.tokenizer.to_json():
            raise ValueError(f"the checkpoint was trained with another tokenizer than data.tokenizer "
                             f"({self.tokenizer.name}); resume with the run's own data settings")
        super().load_state_dict(state_dict)
