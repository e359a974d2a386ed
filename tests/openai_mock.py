"""A scripted OpenAI-compatible server on httpx.MockTransport, for the remote engine's unit
tests: llama-server's routes (or a plain OpenAI API's), scripted replies, faults on demand.
The real servers are exercised in tests/integration/test_remote_servers.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from llmcli.engine.remote import Endpoint, RemoteEngine

Handler = Callable[[httpx.Request], httpx.Response | None]


def sse(*events: dict[str, Any] | str) -> bytes:
    lines = [f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events]
    return "".join(lines).encode()


def delta(content: str | None = None, *, reasoning: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if content is not None:
        d["content"] = content
    if reasoning is not None:
        d["reasoning_content"] = reasoning
    return {"choices": [{"index": 0, "delta": d, "finish_reason": None}]}


def finish(reason: str = "stop") -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}


def usage(prompt: int, completion: int, **timings: float) -> dict[str, Any]:
    event: dict[str, Any] = {
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
    }
    if timings:
        event["timings"] = timings
    return event


class Broken(httpx.SyncByteStream):
    """A body that sends some bytes, then the connection drops."""

    def __init__(self, first: bytes) -> None:
        self.first = first

    def __iter__(self) -> Iterator[bytes]:
        yield self.first
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


@dataclass
class MockServer:
    """llama_server=True: /props, /tokenize (one id per character), /apply-template, and
    /completion with logprobs; False: only /v1/models and /v1/chat/completions."""

    llama_server: bool = True
    models: list[str] = field(default_factory=lambda: ["tiny.gguf"])
    n_ctx: int = 1024
    reply: bytes = field(
        default_factory=lambda: sse(
            delta("Hello"), delta(" world"), finish(), usage(9, 2), "[DONE]"
        )
    )
    before: list[Handler] = field(default_factory=list)  # tried first: faults
    requests: list[httpx.Request] = field(default_factory=list)
    logprob: Callable[[list[int], int], float] = lambda prefix, token: -float(token % 7)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for hook in self.before:
            answer = hook(request)
            if answer is not None:
                return answer
        path = request.url.path
        body = json.loads(request.content) if request.content else {}
        if path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": self._models()})
        if path == "/v1/chat/completions":
            return httpx.Response(200, content=self.reply, headers=_SSE)
        if not self.llama_server:
            return httpx.Response(404, json={"error": {"message": "Not found"}})
        if path == "/props":
            dgs = {"n_ctx": self.n_ctx, "params": {}}
            return httpx.Response(200, json={"default_generation_settings": dgs, "bos_token": ""})
        if path == "/tokenize":
            return httpx.Response(200, json={"tokens": [ord(c) for c in body["content"]]})
        if path == "/detokenize":
            return httpx.Response(200, json={"content": "".join(map(chr, body["tokens"]))})
        if path == "/apply-template":
            text = "".join(f"<{m['role']}>{m['content']}" for m in body["messages"])
            return httpx.Response(200, json={"prompt": text + "<assistant>"})
        if path == "/completion":
            return self._completion(body)
        return httpx.Response(404, json={"error": {"message": "Not found"}})

    def _models(self) -> list[dict[str, Any]]:
        return [{"id": m, "object": "model", "meta": {"n_ctx": self.n_ctx}} for m in self.models]

    def _completion(self, body: dict[str, Any]) -> httpx.Response:
        [(token, _)] = body["logit_bias"]
        lp = self.logprob(body["prompt"], token)
        top = [  # the n_probs most likely of a small "vocabulary": a-z
            {"id": t, "logprob": self.logprob(body["prompt"], t)}
            for t in sorted(range(97, 123), key=lambda t: -self.logprob(body["prompt"], t))
        ][: body["n_probs"]]
        probs = [{"id": token, "token": chr(token), "logprob": lp, "top_logprobs": top}]
        return httpx.Response(200, json={"content": chr(token), "completion_probabilities": probs})

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path == path]

    def open(
        self, endpoint: Endpoint | None = None, sleeps: list[float] | None = None
    ) -> RemoteEngine:
        record = sleeps.append if sleeps is not None else (lambda s: None)
        return RemoteEngine.open(
            endpoint or Endpoint("http://mock:8080"),
            transport=httpx.MockTransport(self.handle),
            sleep=record,
        )


_SSE = {"content-type": "text/event-stream"}
