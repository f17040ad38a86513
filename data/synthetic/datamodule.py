"""The synthetic DataModule: the seeded task mixture of data.mixture, in the word-level vocabulary, packed."""
from __future__ import annotations

from data.config import LOSS_ON, DataConfig
from data.datamodule import PackedDataModule
from data.mixture import Mixture
from data.synthetic.stream import SyntheticStream
from data.synthetic.task_mixture import check_mixture
from data.synthetic.vocab import VOCAB, Vocab


class SyntheticSources:
    """The synthetic task mixture of a shard: SyntheticStream's documents, seeded by (split, seed, shard).

    Shard g is seeded as worker g of rank 0, so a one-device run reads the same stream whatever the layout code.
    """

    def __init__(self, seq_len: int, mixture: dict[str, float], seed: int, vocab: Vocab = VOCAB,
                 answers_only: bool = False) -> None:
        self.seq_len, self.weights, self.seed, self.vocab = seq_len, check_mixture(mixture), seed, vocab
        self.answers_only = answers_only

    def mixture(self, split: str, shard: int, num_shards: int) -> Mixture:
        stream = SyntheticStream(self.seq_len, self.weights, seed=self.seed, split=split, vocab=self.vocab,
                                 answers_only=self.answers_only)
        return Mixture([stream.docs(rank=0, worker=shard)], [1.0])


class SyntheticDataModule(PackedDataModule):
    """Synthetic task mixture from `cfg` (a DataConfig or the matching OmegaConf node)."""

    # Synthetic documents are independent: without boundaries attention reads earlier documents whose MQAR keys are
    # bound to other values, and size=small full attention never left the guessing loss (docs/data.md, packing).
    boundaries_default = True

    def __init__(self, cfg: DataConfig) -> None:
        super().__init__(cfg)
        self.mixture = {str(k): float(v) for k, v in cfg.mixture.items()}
        # Build the sources now so a bad mixture fails at construction, not inside a worker.
        if cfg.loss_on not in LOSS_ON:
            raise ValueError(f"data.loss_on={cfg.loss_on!r} is unknown; valid: {', '.join(LOSS_ON)}")
        self.sources = SyntheticSources(cfg.seq_len, self.mixture, cfg.seed, answers_only=cfg.loss_on == "answers")
        # Answers only: a document continued from the previous row has its prompt (MQAR's key-value pairs, earlier
        # turns) in that row, out of sight, so its answers are unscored rather than trained on as guesses.
        self.unscore_continued = cfg.loss_on == "answers"

    @property
    def vocab(self) -> Vocab:
        """The tokenizer that maps the task tokens to ids."""
        return VOCAB

    @property
    def vocab_size(self) -> int:
        return VOCAB.vocab_size
