"""Every touch of llama_cpp and ctypes: the log sink, loading, and one loaded context.

The rest of the engine works through `Native`'s small typed surface, so what it does with
llama-cpp-python's private parts (`_ctx`, `_batch`, `input_ids`) is in this one file. Nothing
here is imported until a model is loaded.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import llama_cpp

from llmcli.errors import ModelLoadError

if TYPE_CHECKING:
    from llmcli.engine import GenerationOptions
    from llmcli.engine.threads import Balancer


@dataclass
class LogSink:
    """The last lines of llama.cpp's log, echoed when verbose; errors shown on a failed load."""

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


_current_sink: LogSink | None = None
_log_callback: Any = None  # kept referenced: llama.cpp holds a raw pointer to it


def _install_log_callback() -> None:
    """Route llama.cpp's log to our sink (llama-cpp-python's own mapping hides errors)."""
    global _log_callback
    if _log_callback is not None:
        return

    @llama_cpp.llama_log_callback  # type: ignore[misc,untyped-decorator]
    def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        if _current_sink is not None:
            _current_sink(text.decode("utf-8", errors="replace"))

    _log_callback = callback
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


# -- grammars (logic in engine/grammar.py) -----------------------------------------------


def schema_to_gbnf(schema_json: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return str(json_schema_to_gbnf(schema_json))


def grammar_error(text: str, vocab: Any = None) -> str | None:
    """None when llama.cpp parses the grammar; else what it said (its parser writes to
    stderr, not to the log, so both are captured). Without a vocab, token refs fail."""
    global _current_sink
    _install_log_callback()
    sink = LogSink()
    previous, _current_sink = _current_sink, sink
    try:
        with _stderr_captured() as captured:
            sampler = llama_cpp.llama_sampler_init_grammar(vocab, text.encode("utf-8"), b"root")
    finally:
        _current_sink = previous
    if sampler:
        llama_cpp.llama_sampler_free(sampler)
        return None
    return captured[0] + "".join(sink.lines)


@contextlib.contextmanager
def _stderr_captured() -> Iterator[list[str]]:
    """File descriptor 2 into a temporary file for the duration; its text in the list."""
    out = [""]
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield out
            finally:
                os.dup2(saved, 2)
                tmp.seek(0)
                out[0] = tmp.read().decode("utf-8", errors="replace")
    finally:
        os.close(saved)


def version() -> str:
    return str(llama_cpp.__version__)


def system_info() -> dict[str, Any]:
    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    return {
        "llama_cpp_python": version(),
        "llama_cpp_system_info": info.strip(),
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
    }


def gpu_layers(spec: str) -> int:
    spec = spec.strip().lower()
    if spec in ("auto", "all", "-1"):
        return -1 if llama_cpp.llama_supports_gpu_offload() else 0
    return int(spec)


class _UnusedChatFormatter:
    """Stands in for llama-cpp-python's Jinja2ChatFormatter during a load: it compiles every
    `tokenizer.chat_template*` of the file (a broken one aborts the load with a traceback)
    and we never use its handlers; engine/chatformat.py renders and checks the template."""

    def __init__(self, **_: Any) -> None:
        pass

    def to_chat_handler(self) -> None:
        return None


@contextmanager
def _without_chat_formatter() -> Iterator[None]:
    module = llama_cpp.llama_chat_format
    original = module.Jinja2ChatFormatter
    module.Jinja2ChatFormatter = _UnusedChatFormatter
    try:
        yield
    finally:
        module.Jinja2ChatFormatter = original


def load(
    path: Path,
    *,
    n_ctx: int,
    gpu: str,
    threads: int,
    sink: LogSink,
    vocab_only: bool = False,
    sequences: int = 1,
) -> Native:
    """Open a model and its context; llama.cpp's own complaint becomes the error line."""
    global _current_sink
    _install_log_callback()
    _current_sink = sink
    made_for: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if sequences > 1:
        from llmcli.engine._batched import parallel_context

        made_for = parallel_context(sequences)
    try:
        with _without_chat_formatter(), made_for:
            llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=min(512, n_ctx),
                n_gpu_layers=gpu_layers(gpu),
                n_threads=threads,
                n_threads_batch=threads,
                logits_all=False,
                vocab_only=vocab_only,
                verbose=False,
            )
    except (ValueError, RuntimeError, OSError) as exc:
        detail = sink.errors() or str(exc)
        raise ModelLoadError(f"llama.cpp could not load {path}: {detail}") from exc
    return Native(llama, sink)


class Native:
    """One loaded llama.cpp model and context."""

    def __init__(self, llama: Any, sink: LogSink) -> None:
        self.llama = llama
        self.sink = sink
        self.balancer: Balancer | None = None  # re-chooses the thread count while computing
        self.vocab = llama._model.vocab
        self.n_ctx: int = llama.n_ctx()
        self.sequences_max = int(llama_cpp.llama_n_seq_max(llama.ctx))  # 1 + decoded together

    # -- vocabulary -------------------------------------------------------------------------

    def special_text(self, which: str) -> str:
        """The text of the BOS or EOS token ("" when the model has none)."""
        model = self.llama._model
        token = model.token_bos() if which == "bos" else model.token_eos()
        return str(model.token_get_text(token)) if token >= 0 else ""

    def special_token(self, text: str) -> int | None:
        """The id of the control token spelled `text`, if the vocabulary has one."""
        tokens = self.tokenize(text, special=True)
        if len(tokens) != 1:
            return None
        attr = int(llama_cpp.llama_vocab_get_attr(self.vocab, tokens[0]))
        special = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
        return tokens[0] if attr & special else None

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = False) -> list[int]:
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

    def token_bytes(self, token: int, *, special: bool) -> bytes:
        """One token's bytes, growing the buffer when a piece is long (llama-cpp-python's own
        version pads with NULs)."""
        size = 64
        while True:
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, size, 0, special)
            if n >= 0:
                return buf.raw[:n]
            size = -n

    def is_eog(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    # -- sampling ---------------------------------------------------------------------------

    def sample(self, tokens: Sequence[int], options: GenerationOptions) -> Iterator[int]:
        """Tokens sampled after the prompt (llama.cpp reuses the cached common prefix),
        constrained by the options' grammar or JSON schema if they have one."""
        from llmcli.engine import grammar

        text = grammar.grammar_text(options)
        if text is not None:
            return self._sample_constrained(tokens, options, self._checked(text))
        return self._sample_free(tokens, options)

    def _checked(self, text: str) -> str:
        """The grammar, once llama.cpp has parsed it with this model's vocabulary."""
        from llmcli.engine import grammar

        complaint = grammar_error(text, self.vocab)
        if complaint is not None:
            raise grammar.GrammarError(grammar.describe(complaint, text, "grammar"))
        return text

    def _sample_free(self, tokens: Sequence[int], options: GenerationOptions) -> Iterator[int]:
        """`Llama.generate`'s loop without its per-token Python: the chain samples in C and
        each token is decoded through one reused batch."""
        from llmcli.engine._sampler import Free

        return self._decode_loop(lambda: Free(int(self.llama.n_vocab()), options), tokens)

    def _sample_constrained(
        self, tokens: Sequence[int], options: GenerationOptions, text: str
    ) -> Iterator[int]:
        from llmcli.engine._sampler import Constrained

        return self._decode_loop(lambda: Constrained(self, options, text), tokens)

    def _decode_loop(self, make: Callable[[], Any], tokens: Sequence[int]) -> Iterator[int]:
        """Sample a token, yield it, decode it: until the caller stops. The sampler is made
        on the first token asked for, so one is never made that the `finally` cannot free."""
        sampler = make()
        try:
            self.eval_with_reuse(list(tokens))  # the cached prefix is kept, as generate does
            while True:
                token = sampler.sample(self.llama.ctx)
                yield token
                self.decode_one(token)
        finally:
            sampler.free()

    def decode_one(self, token: int) -> None:
        """`Llama.eval([token])` for one token after the cached ones (the KV holds exactly
        `n_tokens`, so nothing is removed), keeping `input_ids`/`n_tokens` as eval does."""
        llama = self.llama
        self.balance()
        n = llama.n_tokens
        batch = llama._batch.batch
        batch.n_tokens = 1
        batch.token[0], batch.pos[0], batch.n_seq_id[0] = token, n, 1
        batch.seq_id[0][0], batch.logits[0] = 0, True
        code = llama_cpp.llama_decode(llama.ctx, batch)
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code}")
        llama.input_ids[n] = token
        llama.n_tokens = n + 1

    # -- the KV state (prefix cache) --------------------------------------------------------

    @property
    def n_tokens(self) -> int:
        return int(self.llama.n_tokens)

    def holds(self, prefix: Sequence[int]) -> bool:
        """The context already holds exactly these tokens at its start."""
        n = len(prefix)
        return self.n_tokens >= n and list(self.llama.input_ids[:n]) == list(prefix)

    def clear(self) -> None:
        self.llama.n_tokens = 0
        self.llama._ctx.kv_cache_clear()

    def eval(self, tokens: Sequence[int]) -> None:
        """`Llama.eval`, one batch at a time so the thread count can change in between."""
        tokens = list(tokens)
        step = self.llama.n_batch
        for i in range(0, len(tokens), step):
            self.balance()
            self.llama.eval(tokens[i : i + step])

    def balance(self) -> None:
        """Apply the balancer's new thread count, if it has one (engine/threads.py)."""
        threads = self.balancer.tick() if self.balancer is not None else None
        if threads is not None:
            llama_cpp.llama_set_n_threads(self.llama.ctx, threads, threads)
            self.sink(f"llmcli: now on {threads} threads\n")  # shown with --verbose

    def save_state(self) -> bytes:
        ctx = self.llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0)
        return ctypes.string_at(buf, written)

    def load_state(self, prefix: Sequence[int], payload: bytes) -> bool:
        self.clear()
        buf = (ctypes.c_uint8 * len(payload)).from_buffer_copy(payload)
        if llama_cpp.llama_state_seq_set_data(self.llama._ctx.ctx, buf, len(payload), 0) == 0:
            self.clear()
            return False
        self.llama.input_ids[: len(prefix)] = prefix
        self.llama.n_tokens = len(prefix)
        self.llama._requires_eval = True  # logits are not restored: the rest refreshes them
        return True

    # -- logits (label scoring) -------------------------------------------------------------

    def eval_with_reuse(self, tokens: list[int]) -> None:
        """Evaluate tokens, keeping the KV cache of the prefix shared with the last eval."""
        llama = self.llama
        common = 0
        limit = min(llama.n_tokens, len(tokens) - 1)  # re-eval at least one token for logits
        ids = llama.input_ids
        while common < limit and ids[common] == tokens[common]:
            common += 1
        llama.n_tokens = common
        self.eval(tokens[common:])

    def eval_rows(self, tokens: list[int]) -> None:
        """Evaluate tokens after the cached ones, keeping a logit row for every token."""
        llama = self.llama
        self.balance()
        llama._ctx.kv_cache_seq_rm(-1, llama.n_tokens, -1)
        llama._batch.set_batch(batch=tokens, n_past=llama.n_tokens, logits_all=True)
        llama._ctx.decode(llama._batch)
        llama.input_ids[llama.n_tokens : llama.n_tokens + len(tokens)] = tokens
        llama.n_tokens += len(tokens)

    def truncate(self, n: int) -> None:
        """Forget the tokens after the first n (their KV is overwritten by the next eval)."""
        self.llama.n_tokens = n

    def logprobs(self, row: int) -> Any:
        """Log-softmax of the logits of the last decode's row (-1: its last token)."""
        import numpy as np

        n_vocab = self.llama.n_vocab()
        ptr = llama_cpp.llama_get_logits_ith(self.llama.ctx, row)
        logits = np.ctypeslib.as_array(ptr, shape=(n_vocab,)).astype(np.float64)
        peak = logits.max()
        return logits - (peak + np.log(np.exp(logits - peak).sum()))

    def close(self) -> None:
        global _current_sink
        llama, self.llama = self.llama, None
        if llama is not None:
            llama.close()
        balancer, self.balancer = self.balancer, None
        if balancer is not None:
            balancer.close()
        if _current_sink is self.sink:
            _current_sink = None
