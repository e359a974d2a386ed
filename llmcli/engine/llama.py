"""LlamaEngine: llama.cpp in-process, with our own sampling loop, detokenizer and prefix cache.

It renders the model's own chat template, counts and budgets tokens, streams `Chunk`s and one
`Stats`, and scores labels (`engine/scoring.py`). Every llama_cpp call goes through
`engine/_native.py`.
"""

from __future__ import annotations

import codecs
import dataclasses
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from llmcli.engine import (
    Chunk,
    Completion,
    EngineParams,
    FinishReason,
    GenerationOptions,
    Message,
    Request,
    Stats,
    StreamEvent,
)
from llmcli.engine._native import LogSink, Native
from llmcli.engine.chatformat import compile_template, render_messages
from llmcli.engine.formats import (
    TemplateChoice,
    choose_template,
    looks_tuned,
    raw_prompt,
    read_override,
)
from llmcli.engine.gguf import GGUFInfo, read_gguf
from llmcli.engine.kvcache import PrefixCache
from llmcli.engine.reasoning import ThinkFormat
from llmcli.engine.stopfilter import StopFilter
from llmcli.engine.threads import Balancer, Registry, default_cores
from llmcli.errors import ContextOverflowError, LlmError

DEFAULT_CTX = 4096


def default_threads() -> int:
    """The threads of one llm process alone (engine/threads.py shares them among several)."""
    return default_cores()


def resolve_ctx(requested: int | None, info: GGUFInfo) -> int:
    train = info.context_length or DEFAULT_CTX
    n = requested if requested else min(train, DEFAULT_CTX)
    return -(-n // 256) * 256


def backend_info() -> dict[str, Any]:
    """Versions and build of llama.cpp, for `llm info`."""
    from llmcli.engine import _native

    return _native.system_info()


def thread_balancer(params: EngineParams) -> Balancer:
    registry = Registry(params.thread_registry) if params.thread_registry else None
    return Balancer(registry, default_threads(), params.threads)


class LlamaEngine:
    """The Engine contract (and Scorer) over one loaded llama.cpp context."""

    def __init__(self, native: Native, info: GGUFInfo, override: str | None = None) -> None:
        self._native = native
        self.info = info
        self.model_path = info.path
        self.n_ctx: int = native.n_ctx
        self.notices: list[str] = []
        self.prefix_cache: PrefixCache | None = None
        self.sequences = max(1, native.sequences_max - 1)  # one of them holds the prefix
        self._pieces: dict[int, bytes] = {}
        self._bos = native.special_text("bos")
        self._eos = native.special_text("eos")
        tuned = looks_tuned(info.metadata)
        self.chat = choose_template(info.chat_template, override, self._is_special, tuned=tuned)
        self._template_name = f"{info.path.name}'s chat template ({self.chat.name})"
        self._stop_ids = {  # markers as tokens; text stops (a newline) go to the StopFilter
            t for s in self.chat.stops if s.strip() and (t := native.special_token(s)) is not None
        }
        if override is None:  # a choice the user made needs no notice
            self.notices += _template_notices(info.path.name, self.chat)
        self._init_thinking()

    def _is_special(self, text: str) -> bool:
        return self._native.special_token(text) is not None

    @property
    def base_model(self) -> bool:
        """No chat template and no chat tokens: prompts are completed as plain text."""
        return self.chat.template is None

    @classmethod
    def load(cls, params: EngineParams) -> LlamaEngine:
        from llmcli.engine import _native

        info = read_gguf(params.model_path)
        _check_templates(info, params.chat_template)  # before the weights: fail fast
        sink = LogSink(echo=params.log if params.verbose else None)
        balancer = thread_balancer(params)
        try:
            native = _native.load(
                params.model_path,
                n_ctx=resolve_ctx(params.n_ctx, info),
                gpu=params.gpu_layers,
                threads=balancer.threads,
                sink=sink,
                sequences=params.sequences,
            )
        except BaseException:
            balancer.close()
            raise
        native.balancer = balancer
        try:
            engine = cls(native, info, params.chat_template)
        except BaseException:
            native.close()
            raise
        backend = f"llama-cpp-python {_native.version()}"  # the state format is the build's
        if params.sequences > 1:
            backend += " fa-auto"  # and flash attention's (engine/_batched.py)
        engine.prefix_cache = PrefixCache.open(params.kv_cache, params.model_path, backend)
        return engine

    # -- tokens ---------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        return self._native.tokenize(text)

    def detokenize(self, tokens: Sequence[int]) -> str:
        data = b"".join(self._piece(t) for t in tokens)
        return data.decode("utf-8", errors="replace")

    def _piece(self, token: int) -> bytes:
        """A token's bytes, cached: the sampling loop asks for every token."""
        piece = self._pieces.get(token)
        if piece is None:
            special = token in self._markers  # thinking markers must reach the splitter
            piece = self._pieces[token] = self._native.token_bytes(token, special=special)
        return piece

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def prompt_tokens(self, messages: Sequence[Message], think: bool | None = None) -> list[int]:
        template = self.chat.template
        if template is None:
            text = raw_prompt(messages)
        else:
            text = render_messages(
                messages, template, self._bos, self._eos, think=think, name=self._template_name
            )
        add_bos = bool(self._bos) and not text.startswith(self._bos) and self._wants_bos()
        return self._native.tokenize(text, add_bos=add_bos, special=True)

    def _wants_bos(self) -> bool:
        value = self.info.metadata.get("tokenizer.ggml.add_bos_token")
        return bool(value) if isinstance(value, bool) else False

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        return len(self.prompt_tokens(messages))

    # -- generation -----------------------------------------------------------------------

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> Iterator[StreamEvent]:
        tokens, state, options = self._prepare(messages, options)
        events = self._stream_tokens(tokens, options, self._template_prefix(messages, tokens))
        return self._finish(events, tokens, state)

    def _stream_tokens(
        self, tokens: list[int], options: GenerationOptions, prefix: int = 0
    ) -> Iterator[StreamEvent]:
        start = time.perf_counter()
        self._use_prefix_cache(tokens, prefix)  # inside the timing: it is prompt evaluation
        yield from self._emit(tokens, self._native.sample(tokens, options), options, start)

    def _prepare(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> tuple[list[int], str, GenerationOptions]:
        """The prompt's tokens, where it leaves the reply, and the options with the turn
        markers as stops (end-of-turn markers stop the reply even written as text)."""
        tokens = self.prompt_tokens(messages, options.think)
        tokens, state = self._thinking_prompt(tokens, options.think is False)
        if len(tokens) >= self.n_ctx:
            raise ContextOverflowError(len(tokens), self.n_ctx - 1, what="the prompt")
        if self.chat.stops:
            options = dataclasses.replace(options, stop=(*options.stop, *self.chat.stops))
        return tokens, state, options

    def _finish(
        self, events: Iterator[StreamEvent], tokens: list[int], state: str
    ) -> Iterator[StreamEvent]:
        from llmcli.engine import runaway

        if self.thinking is not None:
            from llmcli.engine.reasoning import split

            events = split(events, self.thinking, state)
        return runaway.guard(events, prompt_tokens=len(tokens), count_tokens=self.count_tokens)

    def _emit(
        self, tokens: list[int], sampled: Iterable[int], options: GenerationOptions, start: float
    ) -> Iterator[StreamEvent]:
        """Sampled tokens as text up to the end of generation, a stop or the limit."""
        reply = self.reply(tokens, options)
        first = 0.0
        for i, token in enumerate(sampled):
            if i == 0:
                first = time.perf_counter() - start
            text = reply.take(token)
            if text:
                yield Chunk(text)
            if reply.reason is not None:
                break
        tail = reply.tail()
        if tail:
            yield Chunk(tail)
        total = time.perf_counter() - start
        yield Stats(len(tokens), reply.count, first, total, reply.reason or "length")

    def reply(self, tokens: list[int], options: GenerationOptions) -> Reply:
        """The end test and text of one reply to `tokens` (the room left is its limit)."""
        room = self.n_ctx - len(tokens)
        return Reply(self, options, min(options.max_tokens or room, room))

    def complete_many(self, requests: Sequence[Request]) -> list[Completion]:
        """Independent prompts decoded together (engine/batched.py): each reply is the one
        `stream` gives that prompt alone, as long as batched kernels round alike."""
        from llmcli.engine.batched import complete_many

        return complete_many(self, requests)

    # -- reasoning models (logic in engine/reasoning.py) -----------------------------------

    def _init_thinking(self) -> None:
        from llmcli.engine.reasoning import detect

        self.thinking: ThinkFormat | None = detect(self.chat.template, self._is_token)
        self._markers: set[int] = set()
        native = self._native
        for marker in self.thinking.markers if self.thinking else ():
            ids = native.tokenize(marker, special=True)  # control tokens vanish unless special
            self._markers.update(t for t in ids if not native.token_bytes(t, special=False))

    def _is_token(self, text: str) -> bool:
        return len(self._native.tokenize(text, special=True)) == 1

    def _thinking_prompt(self, tokens: list[int], closed: bool) -> tuple[list[int], str]:
        """The prompt, with the thinking block closed when `closed` (no thinking: the reply
        starts at the answer), and where it leaves the reply (engine/reasoning.py states)."""
        if self.thinking is None:
            return tokens, "answer"
        from llmcli.engine.reasoning import answer_suffix, prompt_state
        from llmcli.engine.scoring import prompt_text

        tail = prompt_text(self._native, tokens[-24:])
        suffix = answer_suffix(self.thinking, tail) if closed else ""
        if suffix:
            tokens = tokens + self._native.tokenize(suffix, special=True)
            tail += suffix
        return tokens, prompt_state(self.thinking, tail)

    # -- on-disk prefix cache (logic in engine/kvcache.py) ---------------------------------

    def _template_prefix(self, messages: Sequence[Message], tokens: list[int]) -> int:
        """Tokens before the last user message's content: system prompt, few-shot examples
        and the turn opener, found as the tokens shared with a render of a stand-in message."""
        if self.prefix_cache is None or not messages or messages[-1].role != "user":
            return 0
        probe = [*messages[:-1], Message("user", "\ue000")]  # a private-use stand-in
        try:
            other = self.prompt_tokens(probe)
        except LlmError:
            return 0
        n = 0
        for a, b in zip(tokens, other, strict=False):
            if a != b:
                break
            n += 1
        return n

    def _use_prefix_cache(self, tokens: list[int], prefix: int) -> None:
        if self.prefix_cache is not None and prefix:
            self.prefix_cache.prepare(self._native, tokens, prefix)

    # -- scoring --------------------------------------------------------------------------

    def score(self, messages: Sequence[Message], candidates: Sequence[str]) -> list[float]:
        """Log-probability of each candidate as the start of the reply: one prompt eval."""
        from llmcli.engine import scoring

        prompt, _ = self._thinking_prompt(self.prompt_tokens(messages, False), True)
        labels = scoring.candidate_tokens(self._native, prompt, candidates)
        self._use_prefix_cache(prompt, self._template_prefix(messages, prompt))
        return scoring.score(self._native, prompt, labels)

    def close(self) -> None:
        self._native.close()


def _check_templates(info: GGUFInfo, override: str | None) -> None:
    """Compile the template that will be used (exit 3 with one line if it does not)."""
    if override:
        choice = read_override(override)
        if choice.template is not None:
            compile_template(choice.template, f"chat template {choice.name}")
    elif info.chat_template:
        compile_template(info.chat_template, f"{info.path.name}'s chat template")


def _template_notices(name: str, chat: TemplateChoice) -> list[str]:
    if chat.kind == "builtin" and chat.name:
        return [f"{name} has no chat template; using the built-in {chat.name} format"]
    if chat.kind == "none":
        return [f"{name} is a base model (no chat template): completing the text as given"]
    return []


class Reply:
    """One reply, token by token: the text each token adds and whether it ends the reply.
    The one end test of the single path (`_emit`) and the batched one (engine/batched.py)."""

    def __init__(self, engine: LlamaEngine, options: GenerationOptions, limit: int) -> None:
        self.engine = engine
        self.limit = limit
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.stops = StopFilter(options.stop)
        self.count = 0
        self.reason: FinishReason | None = None  # set by the token that ends the reply

    def take(self, token: int) -> str:
        engine = self.engine
        if engine._native.is_eog(token) or token in engine._stop_ids:
            self.reason = "stop"
            return ""
        self.count += 1
        text = self.stops.feed(self.decoder.decode(engine._piece(token)))
        if self.stops.stopped:
            self.reason = "stop"
        elif self.count >= self.limit:
            self.reason = "length"
        return text

    def tail(self) -> str:
        """What the decoder and the stop filter still hold (nothing after a stop string)."""
        if self.stops.stopped:
            return ""
        return self.stops.feed(self.decoder.decode(b"", final=True)) + self.stops.flush()
