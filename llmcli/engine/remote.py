"""RemoteEngine: the Engine contract over an OpenAI-compatible server (llama-server, vLLM,
llama-cpp-python's server, ollama, LM Studio, hosted APIs).

Opening one asks `/v1/models` (the model id: the one asked for, or the server's only one)
and finds out what else the server offers: llama-server's `/props` (context size, BOS) and
`/tokenize`, vLLM's `/tokenize`, llama-cpp-python's `/extras/tokenize`. Replies stream from
`/v1/chat/completions` over SSE; `Stats` come from the server's `usage` and llama-server's
`timings`. Scoring labels needs prompt log-probabilities: llama-server gives them
(`engine/remote_score.py`); other servers get one clear error through `engine.scorer`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmcli.engine import Chunk, FinishReason, GenerationOptions, Message, Stats, StreamEvent
from llmcli.engine.http import Server, Sleep
from llmcli.engine.remote_server import Endpoint, ServerInfo, probe, request_body
from llmcli.engine.remote_tokens import (
    EstimatedTokens,
    LlamaCppPythonTokens,
    LlamaServerTokens,
    Tokens,
    VllmTokens,
)
from llmcli.errors import LlmError, ServerError, StreamBrokenError

if TYPE_CHECKING:
    import httpx

__all__ = ["Endpoint", "RemoteEngine", "StreamTransform"]  # Endpoint lives in remote_server

DEFAULT_CTX = 4096  # when neither the server nor the config says
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 600.0  # between two chunks: a long prompt on a slow server takes a while
# Where engine-independent stream post-processing plugs in (the thinking splitter and the
# runaway guard of engine/reasoning.py and engine/runaway.py): events in, events out.
StreamTransform = Callable[[Iterator[StreamEvent]], Iterator[StreamEvent]]


def _verify(base: str) -> bool:
    """Certificate checks for https (and behind a proxy, which may speak TLS); plain http to
    a server never does TLS, and loading the CA bundle is ~60 ms of every `llm` call."""
    proxied = any(os.environ.get(v) for v in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"))
    return proxied or not base.lower().startswith("http://")


class RemoteEngine:
    """One model on one server. `transform` is the seam for stream post-processing."""

    def __init__(self, server: Server, info: ServerInfo, endpoint: Endpoint) -> None:
        self.server = server
        self.info = info
        self.endpoint = endpoint
        self.model_path = Path(info.model)  # the contract's name; here the server's model id
        self.notices: list[str] = []
        # the runaway guard by default: a server's model can loop as well as ours
        self.transform: StreamTransform | None = self._guard
        self.n_ctx = self._context(info.n_ctx, endpoint.ctx)
        self.tokens = self._tokens()

    @classmethod
    def open(
        cls,
        endpoint: Endpoint,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Sleep = time.sleep,
    ) -> RemoteEngine:
        from llmcli.engine.http import load_httpx

        httpx = load_httpx()
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        timeout = httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        client = httpx.Client(
            headers=headers, timeout=timeout, transport=transport, verify=_verify(endpoint.base)
        )
        server = Server(endpoint.base, client, endpoint.key_env, endpoint.api_key, sleep)
        try:
            info = probe(server, endpoint)
            server.model = info.model
            return cls(server, info, endpoint)
        except BaseException:
            client.close()
            raise

    @property
    def location(self) -> str:
        return self.endpoint.shown

    def _context(self, reported: int | None, configured: int | None) -> int:
        if reported and configured:
            return min(reported, configured)
        if reported or configured:
            return reported or configured or DEFAULT_CTX
        self.notices.append(
            f"{self.endpoint.shown} does not say its context size; assuming {DEFAULT_CTX:,} "
            "tokens (set --ctx, or ctx in [endpoints.NAME])"
        )
        return DEFAULT_CTX

    def _tokens(self) -> Tokens:
        kind, server, model = self.info.kind, self.server, self.info.model
        if kind == "llama-server":
            return LlamaServerTokens(server, self.info.bos)
        if kind == "vllm":
            return VllmTokens(server, model)
        if kind == "llama-cpp-python":
            self.notices.append(
                f"{self.endpoint.shown}: prompt token counts add an estimate of the chat "
                "format to the server's counts"
            )
            return LlamaCppPythonTokens(server, model)
        self.notices.append(
            f"{self.endpoint.shown} has no tokenize endpoint: token counts are estimates "
            "(about 3 characters a token)"
        )
        return EstimatedTokens()

    # -- tokens ---------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        return self.tokens.tokenize(text)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self.tokens.detokenize(tokens)

    def count_tokens(self, text: str) -> int:
        return len(self.tokens.tokenize(text))

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        return self.tokens.count_prompt(messages)

    # -- generation -----------------------------------------------------------------------

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> Iterator[StreamEvent]:
        events = self._events(request_body(self.info, messages, options), messages)
        return self.transform(events) if self.transform else events

    def _guard(self, events: Iterator[StreamEvent]) -> Iterator[StreamEvent]:
        from llmcli.engine import runaway

        return runaway.guard(events, count_tokens=self.count_tokens)

    def _events(self, body: dict[str, Any], messages: Sequence[Message]) -> Iterator[StreamEvent]:
        import httpx

        from llmcli.engine.sse import DONE, NotJson, event_data, parse

        start = time.perf_counter()
        reply = _Reply()
        with self.server.stream("/v1/chat/completions", body) as response:
            kind = response.headers.get("content-type", "")
            if "event-stream" not in kind:
                response.read()
                yield from reply.whole(self._json(response))
            else:
                try:
                    for data in event_data(response.iter_lines()):
                        if data == DONE:
                            reply.done = True
                            break
                        for chunk in reply.feed(self._event(parse(data), reply)):
                            reply.mark_first(start)
                            yield chunk
                except httpx.TransportError as exc:
                    raise self._broken(reply, str(exc) or type(exc).__name__) from None
                except NotJson as exc:
                    raise ServerError(
                        f"{self.location} sent a stream event that is not JSON: {exc}"
                    ) from None
        if not reply.done and reply.finish is None:
            raise self._broken(reply, "the stream ended without its last event")
        total = time.perf_counter() - start
        if not reply.usage and not reply.timings:  # llama-cpp-python streams no usage
            reply.usage = {"prompt_tokens": self.count_prompt_tokens(messages)}
        yield reply.stats(total)

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise self.server.not_json(response, "/v1/chat/completions") from None
        return self._event(data if isinstance(data, dict) else {}, _Reply())

    def _event(self, obj: dict[str, Any], reply: _Reply) -> dict[str, Any]:
        """An event, or the error the server sent instead (after text: a broken reply)."""
        if "error" in obj:
            error = obj["error"]
            said = str(error.get("message", error) if isinstance(error, dict) else error)
            if reply.parts:
                raise self._broken(reply, said)
            raise ServerError(f"{self.location} failed during the reply: {said}")
        return obj

    def _broken(self, reply: _Reply, detail: str) -> StreamBrokenError:
        text = reply.text()
        return StreamBrokenError(
            f"{self.location} broke off the reply after {len(text):,} "
            f"character{'' if len(text) == 1 else 's'} ({detail})",
            partial=text,
        )

    # -- scoring --------------------------------------------------------------------------

    def score(self, messages: Sequence[Message], candidates: Sequence[str]) -> list[float]:
        """Log-probability of each candidate as the start of the reply (llama-server only)."""
        if not isinstance(self.tokens, LlamaServerTokens):
            raise LlmError(
                f"{self.location} ({self.info.kind}) cannot score labels: it returns no "
                "prompt log-probabilities",
                hint="sentiment needs llama-server (`llm serve`) or the in-process engine",
            )
        from llmcli.engine.remote_score import score

        return score(self.tokens, self.n_ctx, messages, candidates)

    def close(self) -> None:
        self.server.client.close()


@dataclass
class _Reply:
    """What a stream has said so far."""

    parts: list[str] = field(default_factory=list)
    finish: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    done: bool = False
    first_s: float | None = None
    chunks: int = 0

    def feed(self, obj: dict[str, Any]) -> Iterator[Chunk]:
        if isinstance(obj.get("usage"), dict):
            self.usage = obj["usage"]
        if isinstance(obj.get("timings"), dict):
            self.timings = obj["timings"]
        for choice in obj.get("choices") or []:
            delta = choice.get("delta") or choice.get("message") or {}
            thinking, content = delta.get("reasoning_content"), delta.get("content")
            if isinstance(thinking, str) and thinking:
                self.chunks += 1
                yield Chunk(thinking, reasoning=True)
            if isinstance(content, str) and content:
                self.chunks += 1
                self.parts.append(content)
                yield Chunk(content)
            if choice.get("finish_reason"):
                self.finish = str(choice["finish_reason"])

    def whole(self, obj: dict[str, Any]) -> Iterator[Chunk]:
        """A server that answered with one JSON object instead of a stream."""
        yield from self.feed(obj)
        self.done = True

    def mark_first(self, start: float) -> None:
        if self.first_s is None:
            self.first_s = time.perf_counter() - start

    def text(self) -> str:
        return "".join(self.parts)

    def stats(self, total_s: float) -> Stats:
        t, u = self.timings, self.usage
        prompt = u.get("prompt_tokens", int(t.get("prompt_n", 0)) + int(t.get("cache_n", 0)))
        generated = u.get("completion_tokens", t.get("predicted_n", self.chunks))
        reason: FinishReason = "length" if self.finish == "length" else "stop"
        first = self.first_s if self.first_s is not None else total_s
        return Stats(int(prompt), int(generated), first, total_s, reason)
