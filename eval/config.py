"""EvalConfig: what the probe suite runs, how much of it, when, and how the linear layers' state is stored.

One documented field each (litgpt style); `train.py` composes it into the RunConfig as `eval`, and `python -m eval`
reads the same fields as `key=value` (or `eval.key=value`) overrides.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional  # noqa: UP035 -- typing generics, as the structured-config convention asks

PROBE_NAMES: tuple[str, ...] = ("mqar", "multiturn", "multihop", "niah", "copy", "state", "carryover")
"""Every built-in probe, in report order (eval/probes/ holds one module per name)."""
STATE_DTYPES: tuple[str, ...] = ("fp32", "bf16", "fp16")
DEFAULT_EXAMPLES: dict[str, int] = {"cuda": 32, "cpu": 2}
"""Examples per setting when eval.examples is None, by device type."""
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")


@dataclass
class EvalConfig:
    """The probe suite (eval/): multi-turn, reasoning and recall probes plus the regular-prompt loss."""

    probes: List[str] = field(default_factory=lambda: list(PROBE_NAMES))  # noqa: UP006
    """Probes to run: mqar | multiturn | multihop | niah | copy | state | carryover."""
    examples: Optional[int] = None  # noqa: UP045
    """Examples per setting (one point of a probe's grid) for the end-of-run suite and `python -m eval`; None: 32 on
    a GPU (well under 2 minutes at size=small), 2 on a CPU (seconds at size=tiny)."""
    at_end: bool = True
    """Run the suite, write probes.json + plots and print the MiniMax-gap summary when training ends."""
    every: int = 500
    """Run the in-training probe callback every this many optimizer steps (0: never)."""
    callback_examples: int = 4
    """Examples per setting in the in-training callback (its small budget)."""
    batch_size: int = 32
    """Most examples decoded together; only prompts of one length are batched (no padding reaches a state)."""
    seed: int = 1234
    """Seed of the probe examples (the same examples for every checkpoint evaluated with it)."""
    state_dtype: str = "fp32"
    """Storage of the linear layers' recurrent state between prefill segments and decode steps: fp32 | bf16 | fp16."""
    segment: int = 64
    """With state_dtype other than fp32: prefill in segments of this many tokens, rounding the state after each."""
    regular_docs: int = 32
    """Documents for the regular-prompt LM loss: filler text and single-turn dialogues (half each) on a synthetic run,
    held-out documents (data.val_fraction) cut to data.seq_len tokens on a text run."""
    regular_kinds: Optional[List[str]] = None  # noqa: UP006, UP045
    """Regular documents averaged into a synthetic run's regular-prompt loss (a text run uses its held-out text):
    filler | single_turn. None: the kinds the run's loss
    trains on (both under data.loss_on=all; filler alone under answers, where a single-turn dialogue, which holds no
    answer, is never scored)."""
    shots: Optional[int] = None  # noqa: UP045
    """Worked examples (training documents of the probe's task, one per line) before each query: the few-shot form
    for a text model that never saw the tasks. None: 3 on a text run with data.synthetic_weight=0, else 0."""
    baseline: Optional[str] = None  # noqa: UP045
    """A full-attention run's probes.json (or its run directory): the summary then adds ratios to it."""
    precision: str = "auto"
    """Activations while probing: auto (bf16 autocast on GPU, fp32 on CPU) | fp32 | bf16."""
