"""Copy and reverse: repeat a random string of numbers, in order or backwards, after reading all of it.

    again <|sep|> 17 4 88 4 61 <|sep|>       -> answer: 17 4 88 4 61      (mode "copy")
    around <|sep|> 17 4 88 4 61 <|sep|>      -> answer: 61 4 88 17 4      (mode "reverse")

Copying needs the whole string held at once, so a fixed-size recurrent state must eventually fail as the string grows
while attention keeps every token (Jelassi et al., 2024, "Repeat After Me"); reversing also forbids streaming the
string out in the order it came. The mode word comes first: the fixed vocabulary has no "copy"/"reverse" tokens, so
two of its filler words stand in ("again" = say it again, "around" = turn it around). Symbols are the 100 number
tokens, drawn with repetition.

Axes:
    length   symbols in the string (>= 1)
    mode     "copy" | "reverse"
"""
from __future__ import annotations

import random

from data.synthetic.special_tokens import SEP
from data.synthetic.tasks.example import Example
from data.synthetic.vocab import NUMBERS

MODES: dict[str, str] = {"copy": "again", "reverse": "around"}
"""Mode -> the vocabulary word that asks for it."""

TRAIN_AXES: dict[str, object] = {
    "length": (2, 32),
    "mode": ["copy", "reverse"],
}


def make(rng: random.Random, length: int = 8, mode: str = "copy") -> Example:
    """A `length`-symbol string between separators, preceded by the mode word; the answer is it copied or reversed."""
    if length < 1:
        raise ValueError(f"length={length} must be >= 1")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is unknown; valid: {', '.join(MODES)}")
    symbols = rng.choices(NUMBERS, k=length)
    answer = symbols if mode == "copy" else symbols[::-1]
    return Example(prompt=[MODES[mode], SEP, *symbols, SEP], answer=list(answer),
                   slice_labels={"length": length, "mode": mode})


def solve(prompt: list[str]) -> list[str]:
    """Read the mode word and the string between the two separators; return it as asked."""
    word, first_sep = prompt[0], prompt[1]
    if first_sep != SEP or prompt[-1] != SEP:
        raise ValueError("copy prompt must be 'MODE <|sep|> ... <|sep|>'")
    body = prompt[2:-1]
    if word == "again":
        return list(body)
    if word == "around":
        return list(reversed(body))
    raise ValueError(f"copy prompt starts with {word!r}; valid: again, around")
