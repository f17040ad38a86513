"""A probe case as the run's token ids: the word vocabulary (one id per task word) or the run's text tokenizer.

Text runs put the synthetic tasks into training as the words joined by spaces, tokenized by the run's tokenizer
(`TextTokenizer.encode_words`); `TextRenderer` renders a case the same way, so "<|bos|> prompt answer" of a probe
is token for token the training document of the same example (tests/eval/scoring/test_text_probes.py). An answer the
BPE splits into several tokens is judged as the text it spells: the greedy continuation must read " " + the answer
words and then end a word (eval/scoring/decode.py). Few-shot cases put their worked examples, one per line, before
the query's line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from data.synthetic.vocab import VOCAB, Vocab
from eval.probes.base import Case

SHOT_SEPARATOR = "\n"
"""Between worked examples and before the query: a plain line break, which a text model has seen everywhere."""


@dataclass
class Rendered:
    """A case as ids: `prompt` starts with <|bos|>; `inner` holds each answer inside the prompt as a token span."""

    case: Case
    prompt: list[int]
    """<|bos|> then the prompt's tokens."""
    answer: list[int]
    """The answer's tokens as the training document has them (greedy decoding may spell it with others)."""
    target: str
    """The answer as text, exactly as it follows the prompt in the document (text renderer; '' for words)."""
    inner: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)
    """(first, end) indices into `prompt` of each inner answer's tokens, and its labels."""


class Renderer(Protocol):
    name: str
    pad_id: int
    bos_id: int
    eos_id: int

    def render(self, case: Case) -> Rendered: ...

    def document(self, words: list[str]) -> list[int]: ...


class WordRenderer:
    """The synthetic runs' fixed word vocabulary: one id per task word, answers compared id by id."""

    name = "words"

    def __init__(self, vocab: Vocab = VOCAB) -> None:
        self.vocab = vocab
        self.pad_id, self.bos_id, self.eos_id = vocab.pad_id, vocab.bos_id, vocab.eos_id

    def render(self, case: Case) -> Rendered:
        if case.shots:
            raise ValueError("few-shot probes (eval.shots > 0) need a text run's tokenizer; the word vocabulary "
                             "has no line break to put between worked examples")
        prompt = [self.bos_id, *self.vocab.encode(case.prompt)]
        inner = [(pos + 1, pos + 2, labels) for pos, _, labels in case.inner]
        return Rendered(case, prompt, self.vocab.encode(case.answer), "", inner)

    def document(self, words: list[str]) -> list[int]:
        """A whole training document "<|bos|> words <|eos|>" as ids."""
        return [self.bos_id, *self.vocab.encode(words), self.eos_id]


class TextRenderer:
    """A text run's tokenizer (data.text.tokenizer.TextTokenizer): the words joined by spaces, as training has them."""

    name = "text"

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.pad_id, self.bos_id, self.eos_id = tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id
        hf = tokenizer.tokenizer
        self.special_ids = set(hf.get_added_tokens_decoder())  # <|eos|> and the other specials end a word

    def document(self, words: list[str]) -> list[int]:
        return self.tokenizer.encode_words(words).tolist()

    def render(self, case: Case) -> Rendered:
        text = "".join(" ".join(shot) + SHOT_SEPARATOR for shot in case.shots)
        starts = []
        for j, word in enumerate(case.prompt):
            text += " " if j else ""
            starts.append(len(text))
            text += word
        target = " " + " ".join(case.answer)
        encoding = self.tokenizer.tokenizer.encode(text + target, add_special_tokens=False)
        ids, offsets = encoding.ids, encoding.offsets
        prompt = self.tokenizer.encode(text)
        if ids[: len(prompt)] != prompt:
            raise ValueError(f"the tokenizer {self.tokenizer.name!r} merges the last prompt word with the answer "
                             f"{case.answer[:3]}; probes need a word-boundary split (a byte-level BPE has one)")
        inner = []
        for pos, word, labels in case.inner:
            lo, hi = starts[pos], starts[pos] + len(word)
            span = [t for t, (s, e) in enumerate(offsets[: len(prompt)]) if s < hi and e > lo]
            if not span or self.tokenizer.decode(prompt[span[0] : span[-1] + 1]).strip() != word:
                raise ValueError(f"inner answer {word!r} at word {pos} does not map to whole tokens")
            inner.append((span[0] + 1, span[-1] + 2, labels))
        return Rendered(case, [self.bos_id, *prompt], ids[len(prompt):], target, inner)

    def ends_word(self, token_id: int) -> bool:
        """Does this token, coming right after an answer, leave the answer's last word whole?"""
        return token_id in self.special_ids or self.tokenizer.decode([token_id])[:1].isspace()

    def text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)
