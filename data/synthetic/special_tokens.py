"""The special tokens, spelled the HF way ("<|...|>"), shared by the built-in vocabulary and any later HF tokenizer.

Keeping the strings in one module means a tokenizer trained or loaded elsewhere can register exactly these
names, so prompts rendered by the task generators mean the same thing under either tokenizer.
"""
from __future__ import annotations

PAD = "<|pad|>"
"""Padding; never produced by the packed stream (rows are filled back to back), kept for batched decoding."""
BOS = "<|bos|>"
"""Start of a document."""
EOS = "<|eos|>"
"""End of a document."""
SEP = "<|sep|>"
"""Generic separator between segments of one document."""
USER = "<|user|>"
"""Opens a user turn in a dialogue."""
ASSISTANT = "<|assistant|>"
"""Opens an assistant turn in a dialogue; the model's reply follows."""
QUERY = "<|query|>"
"""Marks where the questions about the preceding context begin (MQAR's query section)."""
ANSWER = "<|answer|>"
"""Marks where an answer begins when a task has no dialogue roles."""

SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS, SEP, USER, ASSISTANT, QUERY, ANSWER)
"""All special tokens, in the order of their ids in the built-in vocabulary (PAD is id 0)."""
