"""Greedy decoding through the model's per-layer caches, checked token by token against known answers.

A batch holds prompts of one length and answers of one length, so no padding ever enters a recurrent state or shifts
a RoPE position. Decoding stops as soon as every row has a wrong token: exact match cannot recover from one, and for
a model that fails long answers this skips most of the decode loop. `greedy_match` compares word-vocabulary ids;
`greedy_text_match` compares the text a text run's tokens spell.
"""
from __future__ import annotations

import torch

from eval.scoring.render import TextRenderer
from eval.scoring.state_precision import round_states


def prefill(model: torch.nn.Module, prompt_ids: torch.Tensor, state_dtype: torch.dtype | None,
            segment: int) -> tuple[torch.Tensor, list]:
    """Feed the prompts (B, T) through fresh caches: (the argmax after each position (B, T), the caches)."""
    T = prompt_ids.shape[1]
    caches = model.new_cache()
    step = T if state_dtype is None else max(1, segment)
    preds = []
    for start in range(0, T, step):
        logits, caches = model(prompt_ids[:, start : start + step], caches)  # (B, t, V)
        round_states(caches, state_dtype)
        preds.append(logits.argmax(-1))
    return torch.cat(preds, dim=1), caches


@torch.no_grad()
def greedy_match(
    model: torch.nn.Module,
    prompt_ids: torch.Tensor,
    answer_ids: torch.Tensor,
    state_dtype: torch.dtype | None = None,
    segment: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Prefill `prompt_ids` (B, T) then decode greedily while comparing with `answer_ids` (B, A).

    Returns (next_tokens (B, T): the argmax after each prompt position, correct (B,): every answer token matched).
    With `state_dtype` set, prefill goes in `segment`-token pieces and linear states are rounded after every call.
    """
    B = prompt_ids.shape[0]
    if answer_ids.shape[0] != B or answer_ids.shape[1] < 1:
        raise ValueError(f"answer_ids has shape {tuple(answer_ids.shape)}; valid: ({B}, A >= 1)")
    next_tokens, caches = prefill(model, prompt_ids, state_dtype, segment)

    nxt = next_tokens[:, -1:]  # (B, 1) the first answer token
    correct = torch.ones(B, dtype=torch.bool, device=prompt_ids.device)
    A = answer_ids.shape[1]
    for i in range(A):
        correct &= nxt[:, 0] == answer_ids[:, i]
        if i == A - 1 or not bool(correct.any()):
            break
        logits, caches = model(nxt, caches)  # feed the model's own token: real greedy decoding
        round_states(caches, state_dtype)
        nxt = logits[:, -1:].argmax(-1)
    return next_tokens, correct


@torch.no_grad()
def greedy_text_match(
    model: torch.nn.Module,
    prompt_ids: torch.Tensor,
    targets: list[str],
    renderer: TextRenderer,
    state_dtype: torch.dtype | None = None,
    segment: int = 64,
) -> tuple[torch.Tensor, list[bool]]:
    """Prefill `prompt_ids` (B, T), then decode greedily while the text decoded so far can still spell `targets[b]`.

    A row is right when its continuation reads exactly the target and the next token ends the word there (a special
    token such as <|eos|>, or one that starts with whitespace): the words are compared, never token ids, so any split
    of the answer into tokens counts. Every token adds at least one character, so len(target) + 1 steps suffice.
    """
    B = prompt_ids.shape[0]
    next_tokens, caches = prefill(model, prompt_ids, state_dtype, segment)
    nxt = next_tokens[:, -1:]  # (B, 1)
    generated: list[list[int]] = [[] for _ in range(B)]
    spelled = [False] * B  # the target is written out; the next token decides whether the word ends there
    correct, done = [False] * B, [False] * B
    for _ in range(max(len(t) for t in targets) + 1):
        for b, token in enumerate(nxt[:, 0].tolist()):
            if done[b]:
                continue
            if spelled[b]:
                correct[b], done[b] = renderer.ends_word(token), True
                continue
            generated[b].append(token)
            text = renderer.text(generated[b])
            if text == targets[b]:
                spelled[b] = True
            elif not targets[b].startswith(text):
                done[b] = True
        if all(done):
            break
        logits, caches = model(nxt, caches)
        round_states(caches, state_dtype)
        nxt = logits[:, -1:].argmax(-1)
    return next_tokens, correct
