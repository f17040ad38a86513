"""What a probe is: a task generator, a grid of axis settings, and how its results are sliced, plotted and summed up.

A probe does not score anything itself: it turns (setting, seed) into `Case`s, questions with exact answers, and
eval/scoring/score.py decodes and scores them. Which settings are held out is computed from the task's TRAIN_AXES
(eval/probes/heldout.py), never declared by hand, so a probe cannot call a training-length setting held out by mistake.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import ModuleType
from typing import Any

from data.synthetic.tasks import get_task, sample_axes
from eval.probes.heldout import outside_training


@dataclass
class Case:
    """One question for the model: decode after `prompt`, compare with `answer` exactly."""

    prompt: list[str]
    """Context tokens (the scorer puts <|bos|> in front, as training documents have)."""
    answer: list[str]
    """The tokens greedy decoding must produce, all of them, for the answer to count."""
    labels: dict[str, Any]
    """Slice labels of the answer (the setting's axes and derived ones such as a key's age)."""
    inner: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    """Answers inside the prompt, scored from the prefill: (index in prompt, token, labels). Greedy decoding of a
    one-token answer from the true prefix is the argmax there, so this is the same test without a decode loop."""
    shots: list[list[str]] = field(default_factory=list)
    """Worked examples (training documents of the same task) put before the prompt, one per line (few-shot form)."""


@dataclass(frozen=True)
class Setting:
    """One point of a probe's grid."""

    axes: dict[str, Any]
    """Keyword arguments of the task's `make`."""
    heldout: bool
    """True when the training mixture never draws these axes."""


@dataclass(frozen=True)
class Plot:
    """An accuracy plot: `x` on the horizontal axis, one line per value of `series`."""

    x: str
    series: str | None = None


def example_cases(task: ModuleType) -> Callable[[random.Random, dict[str, Any]], list[Case]]:
    """The usual case maker: one Example from the task, its answer decoded after its prompt."""

    def make(rng: random.Random, axes: dict[str, Any]) -> list[Case]:
        ex = task.make(rng, **axes)
        return [Case(prompt=ex.prompt, answer=ex.answer, labels=dict(ex.slice_labels))]

    return make


@dataclass
class Probe:
    """A probe: a task, its grid of settings, and how to slice, plot and summarise its accuracy."""

    name: str
    """The probe's name (logging key probe/<name>/<slice>)."""
    task: str
    """The data/synthetic/tasks generator it draws from."""
    grid: list[dict[str, Any]]
    """Axis settings evaluated, training-length and held-out together."""
    plots: list[Plot]
    """Accuracy plots written for this probe."""
    slice_by: tuple[str, ...] = ()
    """Labels whose values each get an accuracy slice (axes and derived labels)."""
    buckets: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    """Label -> function that bins its values (e.g. log2 buckets of a gap), for slices and plots."""
    pair_axis: str | None = None
    """Settings that differ only in this axis share their random draws: a paired control (same facts)."""
    headlines: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Extra summary rows: row name -> the labels its answers must have (e.g. {'single_turn': True})."""
    make_cases: Callable[[random.Random, dict[str, Any]], list[Case]] | None = None
    """(rng, axes) -> cases; default: one case per task Example."""

    @cached_property
    def task_module(self) -> ModuleType:
        return get_task(self.task)

    @cached_property
    def settings(self) -> list[Setting]:
        """The grid as Settings, each marked held out by comparison with the task's TRAIN_AXES."""
        return [Setting(dict(axes), bool(outside_training(self.task_module, axes))) for axes in self.grid]

    def cases(self, setting: Setting, n: int, seed: int, shots: int = 0) -> list[Case]:
        """`n` examples of `setting`; the same (seed, setting, i) always gives the same case.

        With `shots`, each case carries that many worked examples: training documents of the task, drawn at its
        TRAIN_AXES from their own seed (paired settings share them, as they share their draws)."""
        maker = self.make_cases or example_cases(self.task_module)
        shared = {k: v for k, v in sorted(setting.axes.items()) if k != self.pair_axis}
        out: list[Case] = []
        for i in range(n):
            rng = random.Random(f"probe/{seed}/{self.name}/{shared!r}/{i}")
            shot_rng = random.Random(f"probe/{seed}/{self.name}/shots/{shared!r}/{i}")
            worked = [self.task_module.make(shot_rng, **sample_axes(self.task_module.TRAIN_AXES, shot_rng)).tokens
                      for _ in range(shots)]
            for case in maker(rng, dict(setting.axes)):
                case.labels["heldout"] = setting.heldout
                case.shots = worked
                for _, _, labels in case.inner:
                    labels["heldout"] = setting.heldout
                out.append(case)
        return out

    def bucket(self, label: str, value: Any) -> Any:
        """The value as sliced and plotted (binned when the probe bins this label)."""
        fn = self.buckets.get(label)
        return value if fn is None or value is None else fn(value)


def log2_bucket(value: int) -> str:
    """Bin a positive count into powers of two: 1, 2-3, 4-7, 8-15, ..."""
    if value < 1:
        return str(value)
    lo = 1 << (int(value).bit_length() - 1)
    hi = 2 * lo - 1
    return str(lo) if lo == hi else f"{lo}-{hi}"
