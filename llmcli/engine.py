"""The Engine contract and LlamaEngine, the one place that talks to llama.cpp.

`stream()` yields text Chunks and ends with one Stats record; `generate()` joins it.
Nothing else in the package imports llama_cpp.
"""

from __future__ import annotations

import codecs
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from llmcli.chatformat import FALLBACK_TEMPLATE, ChatTemplateError, Message, render_chat
from llmcli.errors import ContextOverflowError, LlmError, ModelLoadError
from llmcli.gguf import GGUFInfo, read_gguf
from llmcli.kvcache import KVSettings, PrefixCache

FinishReason = Literal["stop", "length", "interrupted"]
DEFAULT_CTX = 4096


@dataclass(frozen=True)
class EngineParams:
    model_path: Path
    n_ctx: int | None = None  # None: min(training context, DEFAULT_CTX)
    gpu_layers: str = "auto"  # "auto" | "all" | a number
    threads: int | None = None
    verbose: bool = False
    log: Callable[[str], None] | None = None  # where llama.cpp's log goes with verbose
    kv_cache: KVSettings | None = None  # on-disk cache of template prefixes; None: off


@dataclass(frozen=True)
class GenerationOptions:
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    max_tokens: int | None = None  # None: until the model stops or the context is full
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chunk:
    text: str


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
    text: str
    stats: Stats


class Engine(Protocol):
    model_path: Path
    n_ctx: int
    notices: list[str]

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> Iterator[StreamEvent]: ...
    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Completion: ...
    def score(self, messages: Sequence[Message], candidates: Sequence[str]) -> list[float]: ...
    def count_tokens(self, text: str) -> int: ...
    def count_prompt_tokens(self, messages: Sequence[Message]) -> int: ...
    def tokenize(self, text: str) -> list[int]: ...
    def detokenize(self, tokens: Sequence[int]) -> str: ...
    def close(self) -> None: ...


def join_stream(events: Iterator[StreamEvent]) -> Completion:
    """`generate` is a join over `stream`."""
    parts: list[str] = []
    stats: Stats | None = None
    for event in events:
        if isinstance(event, Chunk):
            parts.append(event.text)
        else:
            stats = event
    assert stats is not None, "a stream always ends with Stats"
    return Completion("".join(parts), stats)


class StopFilter:
    """Holds back text that may be the start of a stop string; O(1) per piece."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""
        self.stopped = False
        self.started = False

    def feed(self, text: str) -> str:
        if not self.started:  # answers start at their first non-blank character
            text = text.lstrip()
            self.started = bool(text)
        self.pending += text
        for stop in self.stops:
            at = self.pending.find(stop)
            if at >= 0:
                out, self.pending, self.stopped = self.pending[:at], "", True
                return out
        keep = max((_overlap(self.pending, s) for s in self.stops), default=0)
        out = self.pending[: len(self.pending) - keep]
        self.pending = self.pending[len(out) :]
        return out

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


def _overlap(text: str, stop: str) -> int:
    """Length of the longest suffix of text that is a prefix of stop."""
    for n in range(min(len(text), len(stop) - 1), 0, -1):
        if text.endswith(stop[:n]):
            return n
    return 0


def default_threads() -> int:
    n = os.cpu_count() or 1
    return n if n <= 4 else n // 2  # big machines report SMT siblings


def render_messages(messages: Sequence[Message], template: str, bos: str, eos: str) -> str:
    """The model's template; for templates that refuse a system role, fold it into the user turn."""
    try:
        return render_chat(messages, template, bos_token=bos, eos_token=eos)
    except ChatTemplateError:
        if not messages or messages[0].role != "system" or len(messages) < 2:
            raise
        system, first, *rest = messages
        merged = Message(first.role, f"{system.content}\n\n{first.content}")
        return render_chat([merged, *rest], template, bos_token=bos, eos_token=eos)


@dataclass
class _LogSink:
    lines: list[str] = field(default_factory=list)
    echo: Callable[[str], None] | None = None

    def __call__(self, text: str) -> None:
        self.lines.append(text)
        del self.lines[:-200]
        if self.echo:
            self.echo(text)

    def errors(self) -> str:
        text = "".join(self.lines)
        keep = [ln for ln in text.splitlines() if "error" in ln.lower() or "failed" in ln.lower()]
        return "; ".join(keep[-3:])


_current_sink: _LogSink | None = None
_log_callback: Any = None  # kept referenced: llama.cpp holds a raw pointer to it


def _install_log_callback() -> None:
    """Route llama.cpp's log to our sink (llama-cpp-python's own mapping hides errors)."""
    global _log_callback
    if _log_callback is not None:
        return
    import ctypes

    import llama_cpp
    import llama_cpp.llama

    @llama_cpp.llama_log_callback  # type: ignore[misc,untyped-decorator]
    def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        if _current_sink is not None:
            _current_sink(text.decode("utf-8", errors="replace"))

    _log_callback = callback
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def _gpu_layers(spec: str) -> int:
    import llama_cpp

    spec = spec.strip().lower()
    if spec in ("auto", "all", "-1"):
        return -1 if llama_cpp.llama_supports_gpu_offload() else 0
    return int(spec)


def resolve_ctx(requested: int | None, info: GGUFInfo) -> int:
    train = info.context_length or DEFAULT_CTX
    n = requested if requested else min(train, DEFAULT_CTX)
    return -(-n // 256) * 256


class LlamaEngine:
    """llama.cpp through llama-cpp-python, with our own sampling loop and detokenizer."""

    def __init__(self, llama: Any, info: GGUFInfo, sink: _LogSink) -> None:
        self._llama = llama
        self._sink = sink
        self.info = info
        self.model_path = info.path
        self.n_ctx: int = llama.n_ctx()
        self.notices: list[str] = []
        self.prefix_cache: PrefixCache | None = None
        self._pieces: dict[int, bytes] = {}
        model = llama._model
        self._bos = model.token_get_text(model.token_bos()) if model.token_bos() >= 0 else ""
        self._eos = model.token_get_text(model.token_eos()) if model.token_eos() >= 0 else ""
        self._template = info.chat_template
        if self._template is None:
            self._template = FALLBACK_TEMPLATE
            self.notices.append(
                f"{info.path.name} has no chat template; using a generic ChatML format"
            )

    @classmethod
    def load(cls, params: EngineParams) -> LlamaEngine:
        info = read_gguf(params.model_path)
        global _current_sink
        _install_log_callback()
        import llama_cpp

        sink = _LogSink(echo=params.log if params.verbose else None)
        _current_sink = sink
        n_ctx = resolve_ctx(params.n_ctx, info)
        threads = params.threads or default_threads()
        try:
            llama = llama_cpp.Llama(
                model_path=str(params.model_path),
                n_ctx=n_ctx,
                n_batch=min(512, n_ctx),
                n_gpu_layers=_gpu_layers(params.gpu_layers),
                n_threads=threads,
                n_threads_batch=threads,
                logits_all=False,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            detail = sink.errors() or str(exc)
            raise ModelLoadError(f"llama.cpp could not load {params.model_path}: {detail}") from exc
        engine = cls(llama, info, sink)
        engine.prefix_cache = PrefixCache.open(params.kv_cache, params.model_path)
        return engine

    # -- tokens ---------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        return list(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def detokenize(self, tokens: Sequence[int]) -> str:
        data = b"".join(self._piece(t) for t in tokens)
        return data.decode("utf-8", errors="replace")

    def _piece(self, token: int) -> bytes:
        """A token's bytes, cached (llama-cpp-python's own version pads with NULs)."""
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = self._token_bytes(token, special=False)
        return piece

    def _token_bytes(self, token: int, *, special: bool) -> bytes:
        """One token's bytes from llama.cpp, growing the buffer when a piece is long."""
        import ctypes

        import llama_cpp

        vocab = self._llama._model.vocab
        size = 64
        while True:
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(vocab, token, buf, size, 0, special)
            if n >= 0:
                return buf.raw[:n]
            size = -n

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        try:
            text = render_messages(messages, self._template or "", self._bos, self._eos)
        except ChatTemplateError as exc:
            raise LlmError(f"{self.model_path.name}: {exc}") from None
        add_bos = bool(self._bos) and not text.startswith(self._bos) and self._wants_bos()
        return list(self._llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def _wants_bos(self) -> bool:
        value = self.info.metadata.get("tokenizer.ggml.add_bos_token")
        return bool(value) if isinstance(value, bool) else False

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        return len(self.prompt_tokens(messages))

    # -- generation -----------------------------------------------------------------------

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Completion:
        return join_stream(self.stream(messages, options))

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> Iterator[StreamEvent]:
        tokens = self.prompt_tokens(messages)
        if len(tokens) >= self.n_ctx:
            raise ContextOverflowError(len(tokens), self.n_ctx - 1, what="the prompt")
        return self._stream_tokens(tokens, options, self._template_prefix(messages, tokens))

    def _stream_tokens(
        self, tokens: list[int], options: GenerationOptions, prefix: int = 0
    ) -> Iterator[StreamEvent]:
        import llama_cpp

        llama = self._llama
        if options.seed is not None:
            llama.set_seed(options.seed)
        else:
            llama.set_seed(llama_cpp.LLAMA_DEFAULT_SEED)
        room = self.n_ctx - len(tokens)
        limit = min(options.max_tokens or room, room)
        vocab = llama._model.vocab
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = StopFilter(options.stop)
        start = time.perf_counter()
        self._use_prefix_cache(tokens, prefix)  # inside the timing: it is prompt evaluation
        first = 0.0
        count = 0
        reason: FinishReason = "length"
        for token in llama.generate(
            tokens,
            top_k=options.top_k,
            top_p=options.top_p,
            min_p=options.min_p,
            temp=options.temperature,
            repeat_penalty=options.repeat_penalty,
        ):
            if count == 0:
                first = time.perf_counter() - start
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                reason = "stop"
                break
            count += 1
            text = stops.feed(decoder.decode(self._piece(token)))
            if text:
                yield Chunk(text)
            if stops.stopped:
                reason = "stop"
                break
            if count >= limit:
                break
        if not stops.stopped:
            tail = stops.feed(decoder.decode(b"", final=True)) + stops.flush()
            if tail:
                yield Chunk(tail)
        yield Stats(len(tokens), count, first, time.perf_counter() - start, reason)

    # -- on-disk prefix cache (logic in llmcli/kvcache.py) -----------------------------------

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
            self.prefix_cache.prepare(self._llama, tokens, prefix)

    # -- scoring --------------------------------------------------------------------------

    def score(self, messages: Sequence[Message], candidates: Sequence[str]) -> list[float]:
        """Log-probability of each candidate as the start of the reply: one prompt eval."""
        prompt = self.prompt_tokens(messages)
        text = self._special_text(prompt)
        cand_tokens = [self._continuation_tokens(prompt, text, c) for c in candidates]
        longest = max((len(c) for c in cand_tokens), default=0)
        if len(prompt) + longest > self.n_ctx:
            raise ContextOverflowError(len(prompt) + longest, self.n_ctx, what="the text")
        self._use_prefix_cache(prompt, self._template_prefix(messages, prompt))
        self._eval_with_reuse(prompt)
        first = self._logprobs(-1)
        base = self._llama.n_tokens
        scores: list[float] = []
        for toks in cand_tokens:
            total = float(first[toks[0]])
            if len(toks) > 1:  # one batch for the rest of the label, a logit row per token
                self._eval_rows(toks[:-1])
                total += sum(float(self._logprobs(i)[t]) for i, t in enumerate(toks[1:]))
                self._llama.n_tokens = base  # drop the label; the prompt stays cached
            scores.append(total)
        return scores

    def _special_text(self, tokens: Sequence[int]) -> str:
        """The prompt as text with its special tokens spelled out, so it tokenizes back."""
        data = b"".join(self._token_bytes(t, special=True) for t in tokens)
        return data.decode("utf-8", errors="replace")

    def _continuation_tokens(
        self, prompt: list[int], prompt_text: str, candidate: str
    ) -> list[int]:
        """A label's tokens as they appear right after the prompt, not tokenized alone."""
        full = list(
            self._llama.tokenize(
                (prompt_text + candidate).encode("utf-8"), add_bos=False, special=True
            )
        )
        body = prompt[1:] if prompt and full[:1] != prompt[:1] else prompt  # a BOS added apart
        # When the label merges with the prompt's last token, the prompt's tokens still win.
        toks = full[len(body) :] if full[: len(body)] == body else self.tokenize(candidate)
        if not toks:
            raise LlmError(f"label {candidate!r} has no tokens")
        return toks

    def _eval_with_reuse(self, tokens: list[int]) -> None:
        """Evaluate tokens, keeping the KV cache of the prefix shared with the last eval."""
        llama = self._llama
        common = 0
        limit = min(llama.n_tokens, len(tokens) - 1)  # re-eval at least one token for logits
        ids = llama.input_ids
        while common < limit and ids[common] == tokens[common]:
            common += 1
        llama.n_tokens = common
        llama.eval(tokens[common:])

    def _eval_rows(self, tokens: list[int]) -> None:
        """Evaluate tokens after the cached ones, keeping a logit row for every token."""
        llama = self._llama
        llama._ctx.kv_cache_seq_rm(-1, llama.n_tokens, -1)
        llama._batch.set_batch(batch=tokens, n_past=llama.n_tokens, logits_all=True)
        llama._ctx.decode(llama._batch)
        llama.input_ids[llama.n_tokens : llama.n_tokens + len(tokens)] = tokens
        llama.n_tokens += len(tokens)

    def _logprobs(self, row: int) -> Any:
        """Log-softmax of the logits of the last decode's row (-1: its last token)."""
        import llama_cpp
        import numpy as np

        n_vocab = self._llama.n_vocab()
        ptr = llama_cpp.llama_get_logits_ith(self._llama.ctx, row)
        logits = np.ctypeslib.as_array(ptr, shape=(n_vocab,)).astype(np.float64)
        peak = logits.max()
        return logits - (peak + np.log(np.exp(logits - peak).sum()))

    def close(self) -> None:
        global _current_sink
        llama, self._llama = self._llama, None
        if llama is not None:
            llama.close()
        if _current_sink is self._sink:
            _current_sink = None


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
