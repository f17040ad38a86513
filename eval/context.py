"""What the probe suite takes from the run it probes: how tokens are made, what "regular prompts" are, and the shots.

A synthetic run speaks the fixed word vocabulary and its regular prompts are filler text and single-turn dialogues
(`WORDS`). A text run speaks its own tokenizer (`TextRenderer`, the path data.synthetic_weight puts tasks into
training by) and its regular prompts are its held-out text; trained without task documents (synthetic_weight=0) it
gets the few-shot form of every probe, DEFAULT_SHOTS worked examples before each query, unless eval.shots says.
Built from the DataModule at the end of train.py and in the callback, and from a checkpoint in `python -m eval`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from eval.scoring.render import Renderer, TextRenderer, WordRenderer

DEFAULT_SHOTS = 3
"""Worked examples before each query on a text run trained without task documents (eval.shots=None)."""


@dataclass
class ProbeContext:
    """The run's side of a probe suite."""

    renderer: Renderer
    """Prompts and answers -> token ids: the word vocabulary or the run's tokenizer."""
    trained_on_tasks: bool = True
    """The training stream held the synthetic task documents (synthetic data, or data.synthetic_weight > 0)."""
    heldout_texts: Callable[[], Iterator[str]] | None = None
    """Held-out text documents of a text run (its validation split), or None: the synthetic regular kinds."""
    max_tokens: int = 512
    """A held-out document is cut to this many tokens + 1 (the training row length, data.seq_len)."""

    def shots(self, requested: int | None) -> int:
        """eval.shots, or by default DEFAULT_SHOTS for a run that never trained on the tasks and 0 otherwise."""
        if requested is not None:
            return requested
        return 0 if self.trained_on_tasks else DEFAULT_SHOTS

    def heldout_documents(self, n: int) -> list[list[int]]:
        """The first `n` held-out text documents as "<|bos|> text <|eos|>" ids, cut to the training row length."""
        if self.heldout_texts is None or not isinstance(self.renderer, TextRenderer):
            raise ValueError("this run has no held-out text; its regular prompts are the synthetic kinds")
        texts = list(islice(self.heldout_texts(), n))
        docs = self.renderer.tokenizer.encode_docs(texts) if texts else []
        return [d[: self.max_tokens + 1].tolist() for d in docs]


WORDS = ProbeContext(WordRenderer())
"""A synthetic run: the word vocabulary, trained on the tasks, filler and single-turn dialogues as regular prompts."""


def context_from_data(tokenizer: Any, data_cfg: Any, source: Any = None) -> ProbeContext:
    """A run's context from its data config: WORDS unless it has a text `tokenizer` (TextTokenizer); held-out text
    from `source` (a data.text.source.TextSource) or, when None, the one data_cfg names, opened only when read."""
    if tokenizer is None:
        return WORDS

    def texts() -> Iterator[str]:
        from data.text.source import TextSource

        return (source or TextSource.from_config(data_cfg)).iter_texts("val")

    return ProbeContext(TextRenderer(tokenizer), trained_on_tasks=float(data_cfg.synthetic_weight) > 0,
                        heldout_texts=texts, max_tokens=int(data_cfg.seq_len))


def context_from_datamodule(datamodule: Any) -> ProbeContext:
    """The context of the DataModule a run trains on (a TextDataModule has a tokenizer and a source)."""
    tokenizer = getattr(datamodule, "tokenizer", None)
    if tokenizer is None:
        return WORDS
    return context_from_data(tokenizer, datamodule.cfg, getattr(datamodule, "source", None))
