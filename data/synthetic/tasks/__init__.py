"""The synthetic task generators, by name: each module has `make(rng, **axes) -> Example`, `solve(prompt)`, and
`TRAIN_AXES` (the axis ranges the training mixture draws from; probes pass held-out values to `make` directly)."""
from __future__ import annotations

from types import ModuleType

from data.synthetic.tasks import carryover, copy, filler, mqar, multihop, multiturn, niah, state
from data.synthetic.tasks.axes import sample_axes
from data.synthetic.tasks.example import Example

TASKS: dict[str, ModuleType] = {
    "mqar": mqar,
    "multiturn": multiturn,
    "multihop": multihop,
    "filler": filler,
    "copy": copy,
    "state": state,
    "carryover": carryover,
    "niah": niah,
}
"""Task name -> its module; the names the data mixture and the probes use."""


def get_task(name: str) -> ModuleType:
    """The task module called `name`; an unknown name raises ValueError listing the valid ones."""
    if name not in TASKS:
        raise ValueError(f"task {name!r} is unknown; valid: {', '.join(sorted(TASKS))}")
    return TASKS[name]


__all__ = ["TASKS", "Example", "get_task", "sample_axes"]
