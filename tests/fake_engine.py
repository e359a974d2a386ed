"""A scripted Engine for unit tests: same contract as LlamaEngine, no model."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from llmcli.engine import (
    Chunk,
    Completion,
    GenerationOptions,
    Message,
    Request,
    Stats,
    StreamEvent,
    join_stream,
)

_WORD = re.compile(r"\s*\S+|\s+")

Reply = str | Callable[[Sequence[Message]], str]
Scorer = Callable[[Sequence[Message], Sequence[str]], list[float]]


@dataclass
class Call:
    messages: list[Message]
    options: GenerationOptions

    @property
    def user(self) -> str:
        return self.messages[-1].content


@dataclass
class FakeEngine:
    """Replies come from a script (strings, or functions of the messages), in order;
    when the script runs out the last entry repeats. One token = one word."""

    replies: list[Reply] = field(default_factory=lambda: ["Hello from the fake engine."])
    n_ctx: int = 2048
    scorer: Scorer | None = None
    model_path: Path = Path("fake.gguf")
    notices: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    score_calls: list[tuple[list[Message], list[str]]] = field(default_factory=list)
    closed: bool = False
    interrupt_after: int | None = None  # raise KeyboardInterrupt after this many chunks
    thinking: ThinkFormat | None = None  # a reasoning model: replies split as LlamaEngine does
    base_model: bool = False  # like LlamaEngine's: no chat template, text completion only
    _vocab: dict[str, int] = field(default_factory=dict)
    _words: list[str] = field(default_factory=list)

    # -- tokens
    def tokenize(self, text: str) -> list[int]:
        ids = []
        for word in _WORD.findall(text):
            if word not in self._vocab:
                self._vocab[word] = len(self._words)
                self._words.append(word)
            ids.append(self._vocab[word])
        return ids

    def detokenize(self, tokens: Sequence[int]) -> str:
        return "".join(self._words[t] for t in tokens)

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        return sum(self.count_tokens(m.content) + 4 for m in messages) + 2

    # -- generation
    def _next_reply(self, messages: Sequence[Message]) -> str:
        index = min(len(self.calls) - 1, len(self.replies) - 1)
        reply = self.replies[index]
        return reply(messages) if callable(reply) else reply

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> Iterator[StreamEvent]:
        self.calls.append(Call(list(messages), options))
        text = self._next_reply(messages)
        if self.thinking is None:
            return self._events(messages, text, options)
        from llmcli.engine.reasoning import split

        return split(self._events(messages, text, options), self.thinking)

    def _events(
        self, messages: Sequence[Message], text: str, options: GenerationOptions
    ) -> Iterator[StreamEvent]:
        pieces = _WORD.findall(text)
        if options.max_tokens is not None:
            pieces = pieces[: options.max_tokens]
        for i, piece in enumerate(pieces):
            if self.interrupt_after is not None and i >= self.interrupt_after:
                raise KeyboardInterrupt
            yield Chunk(piece)
        reason: Literal["length", "stop"] = (
            "length" if len(pieces) < len(_WORD.findall(text)) else "stop"
        )
        yield Stats(self.count_prompt_tokens(messages), len(pieces), 0.01, 0.02, reason)

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Completion:
        return join_stream(self.stream(messages, options))

    def score(self, messages: Sequence[Message], candidates: Sequence[str]) -> list[float]:
        self.score_calls.append((list(messages), list(candidates)))
        if self.scorer is not None:
            return self.scorer(messages, candidates)
        return [-1.0] * len(candidates)

    def close(self) -> None:
        self.closed = True


@dataclass
class BatchingFakeEngine(FakeEngine):
    """A FakeEngine that also decodes prompts together, as LlamaEngine does: each request
    gets its scripted reply, and every group is recorded."""

    batches: list[list[Call]] = field(default_factory=list)
    sequences: int = 8

    def complete_many(self, requests: Sequence[Request]) -> list[Completion]:
        """Groups of at most `sequences`, each one call (its first completion opens it)."""
        done: list[Completion] = []
        for start in range(0, len(requests), self.sequences):
            before = len(self.calls)
            for i, (messages, options) in enumerate(requests[start : start + self.sequences]):
                completion = self.generate(messages, options)
                done.append(dataclasses.replace(completion, opens_call=i == 0))
            self.batches.append(self.calls[before:])
        return done


if TYPE_CHECKING:
    from llmcli.engine import Batcher, Engine
    from llmcli.engine.reasoning import ThinkFormat

    _check: Engine = FakeEngine()  # mypy holds FakeEngine to the Engine protocol
    _batcher: Batcher = BatchingFakeEngine()
