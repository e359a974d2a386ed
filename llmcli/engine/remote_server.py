"""What an OpenAI-compatible server is, which model to ask it for, and how it takes options.

`probe` reads `/v1/models` (the model id) and tells llama-server (`/props`: context size,
BOS), llama-cpp-python's server (`/extras/tokenize`) and vLLM (`/tokenize`) from any other
OpenAI-compatible API; `request_body` speaks each one's dialect of GenerationOptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llmcli.engine import PENALTY_LAST_N, GenerationOptions, Message
from llmcli.engine.http import Server, redact_url
from llmcli.engine.remote_tokens import chat_body
from llmcli.errors import ModelNotFoundError, ServerError, UsageError

LLAMA = ("llama-server", "llama-cpp-python")


@dataclass(frozen=True)
class Endpoint:
    """Where a server is and which model to ask it for."""

    url: str  # the API root as the user gave it, with or without /v1
    model: str | None = None  # None: the server's only model
    api_key: str | None = field(default=None, repr=False)
    key_env: str | None = None  # the variable the key comes from (named in auth errors)
    ctx: int | None = None  # the context size to assume (capped by what the server says)
    name: str | None = None  # the [endpoints.NAME] it came from

    @property
    def base(self) -> str:
        """The server's root: the OpenAI routes are under /v1, llama-server's own beside it."""
        url = self.url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url

    @property
    def shown(self) -> str:
        return redact_url(self.url)


@dataclass(frozen=True)
class ServerInfo:
    kind: str  # llama-server | llama-cpp-python | vllm | openai
    model: str
    n_ctx: int | None  # what the server reports (per slot on llama-server)
    bos: str = ""


def probe(server: Server, endpoint: Endpoint) -> ServerInfo:
    """What this server is, which model to use, and its context size."""
    listing = server.get("/v1/models")
    entries = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(entries, list):
        raise ServerError(f"{endpoint.shown}/v1/models is not an OpenAI model list")
    models = [m for m in entries if isinstance(m, dict) and isinstance(m.get("id"), str)]
    entry = choose_model(endpoint, models)
    model = entry["id"] if entry else endpoint.model or "default"
    props = server.probe("GET", "/props")
    if isinstance(props, dict) and isinstance(props.get("default_generation_settings"), dict):
        n_ctx = props["default_generation_settings"].get("n_ctx")
        bos = props.get("bos_token") if isinstance(props.get("bos_token"), str) else ""
        return ServerInfo("llama-server", model, _int(n_ctx), bos or "")
    found: dict[str, Any] = entry or {}
    meta = found["meta"] if isinstance(found.get("meta"), dict) else {}
    n_ctx = _int(meta.get("n_ctx")) or _int(found.get("max_model_len"))
    if _has_tokens(server.probe("POST", "/extras/tokenize", {"input": "a", "model": model})):
        return ServerInfo("llama-cpp-python", model, n_ctx)
    if _has_tokens(server.probe("POST", "/tokenize", {"model": model, "prompt": "a"})):
        return ServerInfo("vllm", model, n_ctx)
    return ServerInfo("openai", model, n_ctx)


def choose_model(endpoint: Endpoint, models: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The entry of the model asked for, or of the server's only model."""
    ids = [m["id"] for m in models]
    listed = ", ".join(ids[:8]) + (f" and {len(ids) - 8} more" if len(ids) > 8 else "")
    if endpoint.model is None:
        if len(models) == 1:
            return models[0]
        if not models:
            return None  # a server that lists nothing takes any name
        raise UsageError(
            f"{endpoint.shown} serves {len(ids)} models ({listed}): choose one",
            hint="-m ID with --endpoint, or -m @NAME/ID for a named endpoint",
        )
    for m in models:
        aliases: list[Any] = m["aliases"] if isinstance(m.get("aliases"), list) else []
        if endpoint.model == m["id"] or endpoint.model in aliases:
            return m
    if not models:
        return None
    raise ModelNotFoundError(
        f"{endpoint.shown} has no model {endpoint.model!r}; it serves: {listed}",
        hint="leave -m out to use the server's only model, or name one it serves",
    )


def request_body(
    info: ServerInfo, messages: Sequence[Message], o: GenerationOptions
) -> dict[str, Any]:
    """GenerationOptions in the server's dialect; extensions only where the server has them."""
    body: dict[str, Any] = {
        "model": info.model,
        "messages": chat_body(messages),
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": o.temperature,
        "top_p": o.top_p,
    }
    if o.max_tokens is not None:
        body["max_tokens"] = o.max_tokens
    if o.seed is not None:
        body["seed"] = o.seed
    if o.stop:
        body["stop"] = list(o.stop)
    body.update(_penalty(info.kind, o))
    if info.kind in (*LLAMA, "vllm"):
        body.update(top_k=o.top_k, min_p=o.min_p)
    if o.grammar is not None:
        if info.kind not in (*LLAMA, "vllm"):
            raise UsageError(f"this server ({info.kind}) does not take GBNF grammars")
        body["guided_grammar" if info.kind == "vllm" else "grammar"] = o.grammar
    if o.json_schema is not None:
        schema = dict(o.json_schema)
        body["response_format"] = (
            {"type": "json_object", "schema": schema}  # llama-cpp-python ignores json_schema
            if info.kind == "llama-cpp-python"
            else {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}
        )
    if o.think is not None:
        body["chat_template_kwargs"] = {"enable_thinking": o.think}
    return body


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _has_tokens(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("tokens"), list)


def _penalty(kind: str, o: GenerationOptions) -> dict[str, Any]:
    """The repeat penalty in the server's words. llama-server, llama-cpp-python's server and
    vLLM count the prompt in its window, in-process counts the reply alone; that helps a
    translation (the source and the example are penalised: served chrF 22.3 -> 31.2,
    in-process 27.9) and hurts a summary, which reuses the article's words (ROUGE-L 24.4 ->
    20.2; docs/benchmarks.md, `bench remote`). So they get a template's
    `server_repeat_penalty`, else none: 1.0 said outright, as llama-cpp-python's own default
    is 1.1. A plain OpenAI API has no such option (frequency_penalty is another formula)."""
    penalty = o.server_repeat_penalty or 1.0
    if kind in LLAMA:
        return {"repeat_penalty": penalty, "repeat_last_n": PENALTY_LAST_N}
    if kind == "vllm":
        return {"repetition_penalty": penalty}
    return {}
