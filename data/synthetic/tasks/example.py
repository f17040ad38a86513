"""The one record every task generator returns, for training documents and probes alike."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Example:
    """One task instance: the model reads `prompt` and must produce `answer` exactly."""

    prompt: list[str]
    """The whole context up to and including the question, as vocabulary tokens."""
    answer: list[str]
    """The tokens the model must generate next (scored by exact match); may be empty for plain text."""
    slice_labels: dict[str, object] = field(default_factory=dict)
    """This example's axis values (and derived ones such as a key's age), used to slice probe accuracy."""

    @property
    def tokens(self) -> list[str]:
        """The training document body: prompt followed by answer."""
        return self.prompt + self.answer
