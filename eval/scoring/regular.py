"""The regular-prompt metric: LM loss on plain text and single-turn dialogues, the data a hybrid is "fine" on.

MiniMax's hybrid looked fine on regular prompts and failed in reasoning and multi-turn use; this is the "fine" half
of that sentence, measured as mean next-token cross-entropy (nats per token) over training-length documents
"<|bos|> ... <|eos|>" of two kinds: filler text and single-turn dialogues (all facts in one user turn). A text run's
regular prompts are its own held-out text instead (`text_loss`): documents training never saw, in its tokenizer.
"""
from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F

from data.synthetic.tasks import filler, multiturn
from data.synthetic.vocab import VOCAB

KINDS: dict[str, tuple[object, dict]] = {
    "filler": (filler, {"num_words": 64}),
    "single_turn": (multiturn, {"num_turns": 8, "num_keys": 4, "num_questions": 0, "single_turn": True}),
}
"""Regular document kinds -> (task, training-length axes)."""


def trained_kinds(loss_on: str) -> list[str]:
    """The regular kinds a run's training loss scores: all of them, or under `data.loss_on=answers` filler alone (it
    stays fully scored there, while a single-turn dialogue has no answers, so its tokens are never trained)."""
    return ["filler"] if loss_on == "answers" else list(KINDS)


def check_kinds(kinds: list[str] | None) -> None:
    if kinds is None:
        return
    if not kinds:
        raise ValueError("eval.regular_kinds=[] averages nothing; name at least one of: " + ", ".join(KINDS))
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"eval.regular_kinds has {kind!r}; valid kinds: {', '.join(KINDS)}")


def regular_documents(n: int, seed: int) -> dict[str, list[list[int]]]:
    """`n` documents split evenly over the kinds, as token ids with <|bos|> and <|eos|>, fixed by `seed`."""
    docs: dict[str, list[list[int]]] = {}
    for k, (name, (task, axes)) in enumerate(KINDS.items()):
        count = n // len(KINDS) + (1 if k < n % len(KINDS) else 0)
        docs[name] = []
        for i in range(count):
            ex = task.make(random.Random(f"regular/{seed}/{name}/{i}"), **axes)
            docs[name].append([VOCAB.bos_id, *VOCAB.encode(ex.tokens), VOCAB.eos_id])
    return docs


def _loss_sum(model: torch.nn.Module, docs: list[list[int]], pad_id: int, device: torch.device,
              batch_size: int) -> tuple[float, int]:
    """(summed next-token cross-entropy, scored tokens) over id documents, batched with right padding."""
    loss_sum, count = 0.0, 0
    for i in range(0, len(docs), batch_size):
        chunk = docs[i : i + batch_size]
        width = max(len(d) for d in chunk) - 1
        # Right padding never reaches a real token in a causal model; padded labels are ignored.
        inputs = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        labels = torch.full((len(chunk), width), -100, dtype=torch.long)
        for b, d in enumerate(chunk):
            inputs[b, : len(d) - 1] = torch.tensor(d[:-1])
            labels[b, : len(d) - 1] = torch.tensor(d[1:])
        logits, _ = model(inputs.to(device))  # (B, T, V)
        labels = labels.to(device)
        loss_sum += float(F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100,
                                          reduction="sum"))
        count += int((labels != -100).sum())
    return loss_sum, count


@torch.no_grad()
def regular_loss(model: torch.nn.Module, n: int, seed: int, device: torch.device, batch_size: int = 32,
                 kinds: list[str] | None = None) -> dict:
    """{"<kind>": mean loss per kind (every kind), "loss": token-weighted mean over the documents of `kinds` (default
    all)}; NaN when n == 0."""
    out: dict[str, float] = {}
    total_sum, total_count = 0.0, 0
    for name, docs in regular_documents(n, seed).items():
        loss_sum, count = _loss_sum(model, docs, VOCAB.pad_id, device, batch_size)
        out[name] = loss_sum / count if count else float("nan")
        if kinds is None or name in kinds:
            total_sum, total_count = total_sum + loss_sum, total_count + count
    out["loss"] = total_sum / total_count if total_count else float("nan")
    return out


@torch.no_grad()
def text_loss(model: torch.nn.Module, docs: list[list[int]], pad_id: int, device: torch.device,
              batch_size: int = 32) -> dict:
    """A text run's regular prompts: {"text": mean loss on held-out documents, "text_perplexity": its exp, "loss":
    the same loss}; `docs` are "<|bos|> text <|eos|>" ids cut to the training row length."""
    loss_sum, count = _loss_sum(model, docs, pad_id, device, batch_size) if docs else (0.0, 0)
    loss = loss_sum / count if count else float("nan")
    return {"text": loss, "text_perplexity": math.exp(loss) if count else float("nan"), "loss": loss}
