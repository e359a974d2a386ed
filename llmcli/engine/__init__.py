"""The Engine contract: what every backend must (and may) do, and the records it yields.

`stream()` yields text Chunks and ends with one Stats record; `generate()` joins it. A backend
is `LlamaEngine` (in-process llama.cpp, `engine/llama.py`) today; an HTTP client of
OpenAI-compatible servers is the next one. Label scoring is optional (`Scorer`): callers ask
`scorer(engine)` and get one clear error when a backend cannot score.

Importing this module is cheap: no llama_cpp, no jinja2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, runtime_checkable

from llmcli.errors import ContextOverflowError, LlmError

if TYPE_CHECKING:
    from llmcli.engine.kvcache import KVSettings

Role = Literal["system", "user", "assistant"]
# repetition: the runaway guard cut a cycle the model kept repeating
FinishReason = Literal["stop", "length", "interrupted", "repetition"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    reasoning: str = ""  # an assistant turn's thinking, kept apart from its content

    def as_dict(self) -> dict[str, str]:
        """The template's view: thinking as `reasoning_content`, the key templates that feed
        it back read (the others ignore it); never inlined into `content`."""
        data = {"role": self.role, "content": self.content}
        if self.reasoning:
            data["reasoning_content"] = self.reasoning
        return data


@dataclass(frozen=True)
class EngineParams:
    """What loading a model needs; built from Settings by `llmcli.runtime`."""

    model_path: Path
    n_ctx: int | None = None  # None: min(training context, the backend's default)
    gpu_layers: str = "auto"  # "auto" | "all" | a number
    threads: int | None = None
    verbose: bool = False
    log: Callable[[str], None] | None = None  # where the backend's log goes with verbose
    kv_cache: KVSettings | None = None  # on-disk cache of template prefixes; None: off
    chat_template: str | None = None  # a Jinja file or built-in format name, over its own
    thread_registry: Path | None = None  # running processes sharing the cores (threads.py)
    # prompts the context decodes together (`Batcher.complete_many`); above 1 the context is
    # made for it (engine/_batched.py: a sequence each, flash attention): translate asks
    sequences: int = 1


# tokens the repeat penalty looks back over (Llama.generate's last_n_tokens_size): in-process
# (_sampler) and the window servers are asked for (remote_server)
PENALTY_LAST_N = 64


@dataclass(frozen=True)
class GenerationOptions:
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1  # over the reply so far (in-process)
    # servers count the prompt in their penalty window (llama-server, llama-cpp-python's,
    # vLLM): a different knob, so a template sets it where that helps (translate); None: 1.0
    server_repeat_penalty: float | None = None
    max_tokens: int | None = None  # None: until the model stops or the context is full
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # None: the model's own default; False/True: its thinking switch (enable_thinking, ...)
    think: bool | None = None
    grammar: str | None = None  # GBNF text that constrains sampling
    json_schema: Mapping[str, Any] | None = None  # a JSON Schema the reply must satisfy


@dataclass(frozen=True)
class Chunk:
    text: str
    reasoning: bool = False  # thinking text (<think>…</think>, a reasoning channel)


@dataclass(frozen=True)
class Stats:
    prompt_tokens: int
    generated_tokens: int
    ttft_s: float
    total_s: float
    finish_reason: FinishReason

    @property
    def tokens_per_s(self) -> float:
        gen_time = self.total_s - self.ttft_s
        return (self.generated_tokens - 1) / gen_time if gen_time > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
            "ttft_s": round(self.ttft_s, 4),
            "total_s": round(self.total_s, 4),
            "tokens_per_s": round(self.tokens_per_s, 2),
            "finish_reason": self.finish_reason,
        }


StreamEvent = Chunk | Stats


@dataclass(frozen=True)
class Completion:
    text: str  # the answer, without thinking text
    stats: Stats
    reasoning: str = ""
    opens_call: bool = True  # False for the 2nd.. of prompts decoded together in one call


class Engine(Protocol):
    """What every backend must do."""

    model_path: Path
    n_ctx: int
    notices: list[str]  # one-line warnings for the user (e.g. no chat template)

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> Iterator[StreamEvent]: ...
    def count_tokens(self, text: str) -> int: ...
    def count_prompt_tokens(self, messages: Sequence[Message]) -> int: ...
    def tokenize(self, text: str) -> list[int]: ...
    def detokenize(self, tokens: Sequence[int]) -> str: ...
    def close(self) -> None: ...


@runtime_checkable
class Scorer(Protocol):
    """What a backend may do: the log-probability of each candidate as the reply's start."""

    def score(self, messages: Sequence[Message], candidates: Sequence[str]) -> list[float]: ...


Request = tuple[Sequence[Message], GenerationOptions]  # one prompt of a batch, its options


BATCH_SEQUENCES = 8  # what a task asks for in EngineParams.sequences to decode prompts together


@runtime_checkable
class Batcher(Protocol):
    """What a backend may do: decode independent prompts together (one llama_decode per
    step for all of them, as a server's slots do), each reply as `stream` would give it."""

    sequences: int  # prompts it decodes together (1: one after another)

    def complete_many(self, requests: Sequence[Request]) -> list[Completion]: ...


def together(engine: Engine) -> int:
    """How many prompts this engine decodes together (1: none)."""
    return max(1, engine.sequences) if isinstance(engine, Batcher) else 1


def complete_all(engine: Engine, requests: Sequence[Request]) -> list[Completion]:
    """Every request's completion, in order: together where the engine batches, else one
    after another."""
    if together(engine) > 1:
        return cast(Batcher, engine).complete_many(requests)
    return [generate(engine, messages, options) for messages, options in requests]


class ScoringEngine(Engine, Scorer, Protocol):
    """A backend that can do both (sentiment needs it)."""


def scorer(engine: Engine) -> ScoringEngine:
    """The engine as a ScoringEngine, or one clear error when this backend cannot score."""
    if isinstance(engine, Scorer):
        return cast(ScoringEngine, engine)
    raise LlmError(
        f"{engine.model_path.name}: this engine cannot score labels",
        hint="sentiment needs a backend that returns prompt log-probabilities",
    )


def join_stream(events: Iterator[StreamEvent]) -> Completion:
    """`generate` is a join over `stream`."""
    parts: list[str] = []
    thinking: list[str] = []
    stats: Stats | None = None
    for event in events:
        if isinstance(event, Chunk):
            (thinking if event.reasoning else parts).append(event.text)
        else:
            stats = event
    assert stats is not None, "a stream always ends with Stats"
    return Completion("".join(parts), stats, "".join(thinking))


def generate(engine: Engine, messages: Sequence[Message], options: GenerationOptions) -> Completion:
    return join_stream(engine.stream(messages, options))


def answer_reserve(engine: Engine, options: GenerationOptions) -> int:
    """Tokens kept free for the reply when checking whether a prompt fits."""
    return min(options.max_tokens or 256, engine.n_ctx // 4)


def check_fits(engine: Engine, messages: Sequence[Message], options: GenerationOptions) -> int:
    """Count the prompt before inference; refuse (never truncate) when it does not fit."""
    used = engine.count_prompt_tokens(messages)
    room = engine.n_ctx - answer_reserve(engine, options)
    if used > room:
        raise ContextOverflowError(
            used,
            room,
            what="the prompt",
            hint=f"context is {engine.n_ctx:,} tokens with {engine.n_ctx - room:,} kept for the "
            "answer; raise --ctx if the model allows, or shorten the input",
        )
    return used
