"""Fake language models with HybridLM's decoding interface (new_cache(), forward(ids, caches) -> (logits, caches)):
an oracle that answers with the task solvers from the tokens it is fed, and random guessers; and a toy probe
with hand-made scored answers for the slicing and report tests."""
from __future__ import annotations

import torch
from torch import nn

from data.synthetic.special_tokens import ANSWER, QUERY, SEP, USER
from data.synthetic.tasks import TASKS, mqar
from data.synthetic.vocab import KEYS, VOCAB
from eval.probes.base import Plot, Probe, log2_bucket
from eval.scoring.score import Scored

V = VOCAB.vocab_size


def identify(prompt: list[str]) -> str:
    """Which task wrote this prompt, from its shape alone."""
    if prompt[0] in ("again", "around"):
        return "copy"
    if prompt[0] == SEP:
        return "state"
    if QUERY in prompt:
        return "mqar"
    if prompt[-1] == ANSWER:
        return "niah"
    if USER in prompt:
        return "multiturn" if prompt[-4] == "is" else "carryover"
    return "multihop"


class _Seen:
    """The fake cache: what the model has read, and the answers it decided on at prefill."""

    def __init__(self) -> None:
        self.answers: list[list[str]] | None = None
        self.steps = 0


class _Fake(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the model a device, as the suite expects

    def new_cache(self) -> list:
        return [_Seen()]


class SolverOracle(_Fake):
    """Prefill: solve the prompt with its task's solver (and every MQAR query inside it); decode: emit the rest.

    `spoil_last=True` gets the last token of every multi-token answer wrong, to show exact match needs all of them.
    """

    def __init__(self, spoil_last: bool = False) -> None:
        super().__init__()
        self.spoil_last = spoil_last

    def forward(self, ids: torch.Tensor, caches: list | None = None):
        B, T = ids.shape
        logits = torch.zeros(B, T, V)
        seen = caches[0]
        if seen.answers is None:  # the prefill: the whole prompt, after <|bos|>
            seen.answers = []
            for b, row in enumerate(ids.tolist()):
                prompt = VOCAB.decode(row)[1:]
                task = identify(prompt)
                answer = list(TASKS[task].solve(prompt))
                if self.spoil_last and len(answer) > 1:
                    answer[-1] = "k0" if answer[-1] != "k0" else "k1"
                seen.answers.append(answer)
                logits[b, -1, VOCAB.token_to_id(answer[0])] = 1.0
                if task == "mqar":
                    q = prompt.index(QUERY)
                    for t in range(q + 1, len(prompt) - 1):
                        if prompt[t] in KEYS:  # a query inside the prompt: its value comes next
                            logits[b, t + 1, VOCAB.token_to_id(mqar.solve(prompt[: t + 1])[0])] = 1.0
        else:
            seen.steps += 1
            for b, answer in enumerate(seen.answers):
                if seen.steps < len(answer):
                    logits[b, -1, VOCAB.token_to_id(answer[seen.steps])] = 1.0
        return logits, caches


class RandomGuesser(_Fake):
    """Uniformly random logits over `choices` (default: the whole vocabulary), seeded."""

    def __init__(self, choices: list[str] | None = None, seed: int = 0) -> None:
        super().__init__()
        self.ids = torch.tensor(VOCAB.encode(choices)) if choices else torch.arange(V)
        self.gen = torch.Generator().manual_seed(seed)

    def forward(self, ids: torch.Tensor, caches: list | None = None):
        B, T = ids.shape
        logits = torch.full((B, T, V), -1e9)
        logits[:, :, self.ids] = torch.rand(B, T, len(self.ids), generator=self.gen)
        return logits, caches


TOY_PROBE = Probe(name="toy", task="multihop", grid=[{"num_hops": 1}], plots=[Plot("num_hops", "num_distractors")],
                  slice_by=("num_hops", "gap"), buckets={"gap": log2_bucket},
                  headlines={"no distractors": {"num_distractors": 0}})


def toy_rows() -> list[Scored]:
    """12 scored answers to TOY_PROBE: 7 right; the 4 at 6 hops are held out (1 right)."""
    rows = []
    for hops, held in [(1, False), (2, False), (6, True)]:
        for i in range(4):
            correct = i < (4 if hops == 1 else 2 if hops == 2 else 1)
            rows.append(Scored({"num_hops": hops, "num_distractors": i % 2, "gap": 3 + i, "heldout": held}, correct))
    return rows


class TextSolverOracle(_Fake):
    """The solver oracle on a text run's tokens: reads the prompt back as words, solves it, writes the answer.

    Inside the prompt it predicts every next token (so inner answers are right); after it, the answer as `split`:
    "canonical" (the tokenizer's own ids), "chars" (one byte-level token per character: other ids, same words) or
    "glued" (canonical plus a digit stuck to the last word: same ids first, another word), then <|eos|>.
    """

    def __init__(self, tokenizer, split: str = "canonical") -> None:
        super().__init__()
        self.tok, self.split = tokenizer, split
        self.V = tokenizer.vocab_size

    def _answer_ids(self, prompt_text: str, answer: list[str]) -> list[int]:
        target = " " + " ".join(answer)
        hf = self.tok.tokenizer
        if self.split == "chars":
            return [hf.token_to_id("Ġ" if c == " " else c) for c in target]
        ids = self.tok.encode(prompt_text + target)[len(self.tok.encode(prompt_text)):]
        return ids + [hf.token_to_id("7")] if self.split == "glued" else ids

    def forward(self, ids: torch.Tensor, caches: list | None = None):
        B, T = ids.shape
        logits = torch.zeros(B, T, self.V)
        seen = caches[0]
        if seen.answers is None:
            seen.answers = []
            for b, row in enumerate(ids.tolist()):
                logits[b, torch.arange(T - 1), torch.tensor(row[1:])] = 1.0  # the prompt's own next tokens
                text = self.tok.decode(row[1:])
                query = text.split("\n")[-1]  # few-shot: the query is the last line
                answer = list(TASKS[identify(query.split())].solve(query.split()))
                seen.answers.append(self._answer_ids(text, answer) + [self.tok.eos_id])
                logits[b, -1, seen.answers[b][0]] = 1.0
        else:
            seen.steps += 1
            for b, answer in enumerate(seen.answers):
                logits[b, -1, answer[min(seen.steps, len(answer) - 1)]] = 1.0
        return logits, caches
