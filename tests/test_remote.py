"""RemoteEngine on a scripted server (httpx.MockTransport): SSE, options, tokens, scoring,
and every server failure as one error with its exit code."""

from __future__ import annotations

import json

import httpx
import pytest

from llmcli.engine import Chunk, GenerationOptions, Message, Stats, join_stream
from llmcli.engine.remote import Endpoint
from llmcli.engine.remote_server import ServerInfo, request_body
from llmcli.engine.sse import event_data
from llmcli.errors import (
    ExitCode,
    InputError,
    LlmError,
    ModelNotFoundError,
    ServerError,
    StreamBrokenError,
    UsageError,
)
from llmcli.tasks.fanout import retryable
from tests.openai_mock import Broken, MockServer, delta, finish, sse, usage

HI = [Message("user", "hi")]
OPTS = GenerationOptions()


def test_event_data_joins_lines_skips_comments_and_takes_a_last_event_without_blank() -> None:
    lines = [": ping", "data: a", "data: b", "", "event: x", "data:c\r", "", "data: d"]
    assert list(event_data(lines)) == ["a\nb", "c", "d"]


def test_llama_server_stream_chunks_stats_and_context() -> None:
    server = MockServer(
        reply=sse(
            delta(reasoning="hmm"),
            delta("Hello"),
            delta(" world"),
            finish("length"),
            usage(9, 3, prompt_n=9, predicted_n=3),
            "[DONE]",
        )
    )
    engine = server.open()
    assert engine.n_ctx == 1024 and engine.notices == []
    assert engine.model_path.name == "tiny.gguf"
    events = list(engine.stream(HI, OPTS))
    assert events[:3] == [Chunk("hmm", reasoning=True), Chunk("Hello"), Chunk(" world")]
    stats = events[-1]
    assert isinstance(stats, Stats)
    assert (stats.prompt_tokens, stats.generated_tokens, stats.finish_reason) == (9, 3, "length")
    done = join_stream(iter(events))
    assert (done.text, done.reasoning) == ("Hello world", "hmm")


def test_generation_options_travel_in_llama_servers_dialect() -> None:
    server = MockServer()
    options = GenerationOptions(
        temperature=0.2,
        top_k=5,
        max_tokens=9,
        seed=3,
        stop=("\n",),
        repeat_penalty=1.3,
        server_repeat_penalty=1.25,
        grammar='root ::= "a"',
        think=False,
    )
    join_stream(server.open(Endpoint("http://mock:8080", "tiny.gguf")).stream(HI, options))
    [body] = server.bodies("/v1/chat/completions")
    assert body["model"] == "tiny.gguf" and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    expected = {"temperature": 0.2, "top_k": 5, "max_tokens": 9, "seed": 3, "stop": ["\n"]}
    assert {k: body[k] for k in expected} == expected
    assert (body["repeat_penalty"], body["repeat_last_n"]) == (1.25, 64)  # its own knob
    assert body["grammar"] == 'root ::= "a"'
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    schema = {"type": "object"}
    join_stream(server.open().stream(HI, GenerationOptions(json_schema=schema)))
    fmt = server.bodies("/v1/chat/completions")[-1]["response_format"]
    assert fmt == {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}


def test_a_plain_openai_server_gets_estimates_with_notices_and_no_extensions() -> None:
    server = MockServer(llama_server=False)
    server.models = ["gpt-x"]
    engine = server.open()
    assert engine.n_ctx == 1024  # from /v1/models meta
    assert any("estimates" in n for n in engine.notices)
    text = "Hello there, friend.\n  Bye"
    assert engine.detokenize(engine.tokenize(text)) == text
    assert engine.count_tokens(text) >= len(text) // 3
    join_stream(engine.stream(HI, GenerationOptions(top_k=3)))
    sent = server.bodies("/v1/chat/completions")[0]
    assert not {"top_k", "repeat_penalty", "repetition_penalty"} & set(sent)
    with pytest.raises(UsageError, match="GBNF"):
        join_stream(engine.stream(HI, GenerationOptions(grammar="root ::= x")))
    with pytest.raises(LlmError, match="cannot score labels"):
        engine.score(HI, ["yes", "no"])


@pytest.mark.parametrize(
    ("kind", "server_penalty", "sent"),
    [
        ("llama-server", None, {"repeat_penalty": 1.0, "repeat_last_n": 64}),
        ("llama-cpp-python", None, {"repeat_penalty": 1.0, "repeat_last_n": 64}),  # its own: 1.1
        ("vllm", 1.2, {"repetition_penalty": 1.2}),
        ("vllm", None, {"repetition_penalty": 1.0}),
        ("openai", 1.2, {}),
    ],
)
def test_the_repeat_penalty_in_each_servers_words(
    kind: str, server_penalty: float | None, sent: dict[str, float]
) -> None:
    options = GenerationOptions(repeat_penalty=1.0, server_repeat_penalty=server_penalty)
    body = request_body(ServerInfo(kind, "m", 2048), HI, options)
    names = {"repeat_penalty", "repeat_last_n", "repetition_penalty"}
    assert {k: v for k, v in body.items() if k in names} == sent


def test_a_server_that_does_not_say_its_context_gets_the_default_with_a_notice() -> None:
    server = MockServer(llama_server=False)
    server._models = lambda: [{"id": "m"}]  # type: ignore[method-assign]
    engine = server.open()
    assert engine.n_ctx == 4096 and any("context size" in n for n in engine.notices)
    assert server.open(Endpoint("http://mock:8080", ctx=512)).n_ctx == 512


def test_model_choice_only_one_several_and_unknown() -> None:
    server = MockServer(models=["a", "b"])
    with pytest.raises(UsageError, match="serves 2 models"):
        server.open()
    assert server.open(Endpoint("http://mock:8080", "b")).model_path.name == "b"
    with pytest.raises(ModelNotFoundError, match="has no model 'c'") as info:
        server.open(Endpoint("http://mock:8080", "c"))
    assert info.value.exit_code == ExitCode.MODEL_NOT_FOUND


def test_url_with_v1_and_without_reach_the_same_routes() -> None:
    server = MockServer()
    server.open(Endpoint("http://mock:8080/v1/"))
    assert {r.url.path for r in server.requests} >= {"/v1/models", "/props"}


def test_scoring_sums_forced_token_logprobs_after_the_rendered_prompt() -> None:
    server = MockServer()
    engine = server.open()
    scores = engine.score(HI, ["ab", "c", "~"])
    assert scores == [-(ord("a") % 7) - (ord("b") % 7), -(ord("c") % 7), -(ord("~") % 7)]
    prompt = [ord(c) for c in "<user>hi<assistant>"]
    prefixes = [(b["prompt"], b["logit_bias"][0][0]) for b in server.bodies("/completion")]
    # "a" and "c" from one evaluation (c among the top), "~" outside it: forced on its own
    assert prefixes == [(prompt, ord("a")), (prompt, ord("~")), ([*prompt, ord("a")], ord("b"))]


def test_scoring_refuses_a_prompt_that_does_not_fit() -> None:
    engine = MockServer(n_ctx=10).open()
    with pytest.raises(InputError):
        engine.score([Message("user", "a long enough text")], ["x"])


# -- failures ------------------------------------------------------------------------------


def _raise(exc: Exception) -> object:
    def hook(request: httpx.Request) -> httpx.Response:
        raise exc

    return hook


def test_connection_refused_is_one_server_error() -> None:
    server = MockServer(before=[_raise(httpx.ConnectError("[Errno 111] Connection refused"))])  # type: ignore[list-item]
    with pytest.raises(ServerError, match="cannot connect to http://mock:8080") as info:
        server.open()
    assert info.value.exit_code == ExitCode.SERVER


def test_tls_errors_say_tls() -> None:
    error = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    server = MockServer(before=[_raise(error)])  # type: ignore[list-item]
    with pytest.raises(ServerError, match="TLS error"):
        server.open(Endpoint("https://mock"))


def test_401_names_the_key_variable_and_never_shows_the_key() -> None:
    def deny(request: httpx.Request) -> httpx.Response:
        key = request.headers.get("authorization", "")
        return httpx.Response(401, json={"error": {"message": f"bad key {key}"}})

    server = MockServer(before=[deny])
    endpoint = Endpoint("http://u:pw@mock:8080", api_key="sk-secret", key_env="MY_KEY")
    with pytest.raises(ServerError) as info:
        server.open(endpoint)
    text = f"{info.value.message} {info.value.hint}"
    assert "MY_KEY" in text and "refused the API key" in text
    assert "sk-secret" not in text and "pw" not in text
    assert not retryable(info.value)  # a fan-out stops at once: no other try can help
    with pytest.raises(ServerError):
        server.open(Endpoint("http://mock:8080", api_key="sk-secret"))
    assert server.requests[-1].headers["authorization"] == "Bearer sk-secret"


def test_429_is_retried_after_retry_after_then_succeeds() -> None:
    left = [2]

    def busy(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/v1/chat/completions" and left[0]:
            left[0] -= 1
            return httpx.Response(429, headers={"retry-after": "2"}, json={"error": "slow down"})
        return None

    sleeps: list[float] = []
    engine = MockServer(before=[busy]).open(sleeps=sleeps)
    assert join_stream(engine.stream(HI, OPTS)).text == "Hello world"
    assert sleeps == [2.0, 2.0]


def test_503_forever_fails_after_the_retries_with_backoff() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": {"message": "Loading model"}})

    sleeps: list[float] = []
    with pytest.raises(ServerError, match=r"busy .503.*Loading model"):
        MockServer(before=[down]).open(sleeps=sleeps)
    assert sleeps == [0.5, 1.0, 2.0, 4.0]


def test_an_html_page_instead_of_json() -> None:
    def page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"})

    with pytest.raises(ServerError, match="HTML page, not JSON"):
        MockServer(before=[page]).open()


def test_a_stream_cut_mid_reply_keeps_the_partial_text() -> None:
    def cut(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/v1/chat/completions":
            return None
        body = Broken(sse(delta("Once upon"), delta(" a time")))
        return httpx.Response(200, stream=body, headers={"content-type": "text/event-stream"})

    engine = MockServer(before=[cut]).open()
    seen: list[str] = []
    with pytest.raises(StreamBrokenError, match="broke off the reply after 16 characters") as info:
        for event in engine.stream(HI, OPTS):
            if isinstance(event, Chunk):
                seen.append(event.text)
    assert "".join(seen) == info.value.partial == "Once upon a time"
    assert info.value.exit_code == ExitCode.ERROR


def test_a_stream_that_ends_without_its_last_event_is_broken_not_finished() -> None:
    engine = MockServer(reply=sse(delta("Half"))).open()
    with pytest.raises(StreamBrokenError, match="ended without"):
        join_stream(engine.stream(HI, OPTS))


def test_an_error_event_in_the_stream_and_a_context_refusal() -> None:
    reply = sse({"error": {"message": "slot died"}})
    with pytest.raises(ServerError, match="failed during the reply: slot died"):
        join_stream(MockServer(reply=reply).open().stream(HI, OPTS))
    reply = sse(delta("a"), {"error": {"message": "slot died"}})
    with pytest.raises(StreamBrokenError, match=r"after 1 character \(slot died"):
        join_stream(MockServer(reply=reply).open().stream(HI, OPTS))

    def too_long(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/v1/chat/completions":
            msg = "the request exceeds the available context size"
            return httpx.Response(400, json={"error": {"message": msg}})
        return None

    with pytest.raises(InputError, match="context size"):
        join_stream(MockServer(before=[too_long]).open().stream(HI, OPTS))


def test_a_non_streaming_json_answer_is_accepted() -> None:
    def whole(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/v1/chat/completions":
            choice = {"message": {"content": "All at once"}, "finish_reason": "stop"}
            return httpx.Response(200, json={"choices": [choice], "usage": usage(4, 3)["usage"]})
        return None

    done = join_stream(MockServer(before=[whole]).open().stream(HI, OPTS))
    assert done.text == "All at once" and done.stats.generated_tokens == 3


def test_the_request_body_is_json() -> None:
    server = MockServer()
    join_stream(server.open().stream(HI, OPTS))
    request = next(r for r in server.requests if r.url.path == "/v1/chat/completions")
    assert json.loads(request.content)["stream_options"] == {"include_usage": True}


def test_certificates_are_loaded_for_https_and_proxies_not_for_plain_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llmcli.engine.remote import _verify

    for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    assert _verify("https://api.example.com/v1")
    assert not _verify("http://127.0.0.1:8080/v1")
    monkeypatch.setenv("HTTP_PROXY", "https://proxy.example.com:3128")
    assert _verify("http://10.0.0.5:8000/v1")
