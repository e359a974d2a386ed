"""The commands on a remote engine: selection (--endpoint, LLM_ENDPOINT, [endpoints.NAME],
-m @NAME[/ID]), chat's /model between local and remote, and server failures through the
error funnel. The engine is the real RemoteEngine over a scripted server (MockTransport)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from llmcli.engine.remote import Endpoint, RemoteEngine
from tests.conftest import Runner
from tests.fake_engine import FakeEngine
from tests.openai_mock import Broken, MockServer, delta, sse
from tests.test_chat_repl import ENTER, type_keys

URL = "http://mock:8080"


@pytest.fixture
def server(llm: Runner) -> MockServer:
    mock = MockServer()
    llm.remote_engine = lambda endpoint: mock.open(endpoint)
    return mock


def config(tmp_path: Path, text: str) -> None:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "config.toml").write_text(text)


def test_run_streams_from_the_endpoint(llm: Runner, server: MockServer) -> None:
    result = llm("run", "--endpoint", URL, "hi")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Hello world\n"
    assert llm.loaded == []


def test_run_json_names_the_endpoint_and_never_the_key(llm: Runner, server: MockServer) -> None:
    llm.environ.update(LLM_ENDPOINT=URL, LLM_API_KEY="sk-do-not-show")
    result = llm("run", "--json", "hi")
    data = json.loads(result.stdout)
    assert data["endpoint"] == URL and data["model"] == "tiny.gguf"
    assert data["timings"]["prompt_tokens"] == 9
    assert "sk-do-not-show" not in result.stdout + result.stderr
    assert llm.endpoints[0].api_key == "sk-do-not-show"
    assert "sk-do-not-show" not in repr(llm.endpoints[0])


def test_llm_endpoint_may_list_several(llm: Runner) -> None:
    llm.environ["LLM_ENDPOINT"] = "http://a:1, http://b:2"
    assert llm("run", "hi").exit_code == 0
    assert [e.url for e in llm.endpoints] == ["http://a:1"]


def test_named_endpoint_with_model_id_and_key_variable(llm: Runner, tmp_path: Path) -> None:
    config(
        tmp_path,
        '[endpoints.gpu]\nurl = "https://gpu.example/v1"\nmodel = "big"\n'
        'api_key_env = "GPU_KEY"\nctx = 8192\n',
    )
    llm.environ["GPU_KEY"] = "k1"
    assert llm("run", "-m", "@gpu", "hi").exit_code == 0
    assert llm("run", "-m", "@gpu/org/other-model", "hi").exit_code == 0
    first, second = llm.endpoints
    assert (first.url, first.model, first.api_key, first.key_env) == (
        "https://gpu.example/v1",
        "big",
        "k1",
        "GPU_KEY",
    )
    assert first.ctx == 8192 and first.name == "gpu"
    assert second.model == "org/other-model"


def test_endpoint_flag_may_name_a_configured_server(llm: Runner, tmp_path: Path) -> None:
    config(tmp_path, '[endpoints.a]\nurl = "http://a:1"\nmodel = "x"\n')
    assert llm("run", "--endpoint", "@a", "-m", "y", "hi").exit_code == 0
    assert [(e.url, e.model, e.name) for e in llm.endpoints] == [("http://a:1", "y", "a")]


def test_unknown_endpoint_name_and_bad_urls_are_usage_errors(llm: Runner, tmp_path: Path) -> None:
    result = llm("run", "-m", "@nowhere", "hi")
    assert result.exit_code == 2 and "no endpoint named 'nowhere'" in result.stderr
    result = llm("run", "--endpoint", "localhost:8080", "hi")
    assert result.exit_code == 2 and "not an http:// or https:// URL" in result.stderr
    config(tmp_path, '[endpoints.x]\nurl = "http://h"\nkey = "inline"\n')
    result = llm("run", "-m", "@x", "hi")
    assert result.exit_code == 2 and "unknown key 'key'" in result.stderr


def test_info_shows_the_endpoint_without_the_key(llm: Runner) -> None:
    llm.environ.update(LLM_ENDPOINT="http://user:pw@srv:9/v1", LLM_API_KEY="sk-x")
    result = llm("info", "--json")
    [shown] = json.loads(result.stdout)["endpoints"]
    assert shown == {"url": "http://srv:9/v1", "model": None, "key": "$LLM_API_KEY (set)"}
    assert "sk-x" not in result.stdout and "pw" not in result.stdout


def test_chat_model_switches_to_a_server_and_back(
    llm: Runner, engine: FakeEngine, server: MockServer, tmp_path: Path
) -> None:
    config(tmp_path, f'[endpoints.srv]\nurl = "{URL}"\n')
    keys = "hi" + ENTER + "/model @srv" + ENTER + "and you?" + ENTER
    keys += "/model smollm2" + ENTER + "bye" + ENTER
    result = type_keys(llm, keys)
    assert result.exit_code == 0, result.stderr
    assert f"model @srv (tiny.gguf at {URL})" in result.stdout
    [remote_turn] = server.bodies("/v1/chat/completions")
    contents = [m["content"] for m in remote_turn["messages"]]
    assert contents[-3:] == ["hi", "Hello from the fake engine.", "and you?"]
    back = [m.content for m in engine.calls[-1].messages]  # local again, history kept
    assert back[-3:] == ["and you?", "Hello world", "bye"]


def test_a_server_killed_mid_reply_keeps_the_text_and_exits_1(
    llm: Runner, server: MockServer
) -> None:
    def cut(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/v1/chat/completions":
            return None
        stream = Broken(sse(delta("Once upon"), delta(" a time")))
        return httpx.Response(200, stream=stream, headers={"content-type": "text/event-stream"})

    server.before.append(cut)
    result = llm("run", "--endpoint", URL, "story")
    assert result.exit_code == 1
    assert result.stdout.startswith("Once upon a time")
    assert result.stderr.count("\n") == 1 and "broke off the reply" in result.stderr
    result = llm("run", "--endpoint", URL, "--json", "story")
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and data["text"] == "Once upon a time"
    assert "broke off the reply" in data["error"]


def test_ctrl_c_during_a_remote_reply_exits_130_with_the_text_kept(
    llm: Runner, server: MockServer
) -> None:
    class Interrupting(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            yield sse(delta("Part"))
            raise KeyboardInterrupt

    def hit(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/v1/chat/completions":
            return None
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, stream=Interrupting(), headers=headers)

    server.before.append(hit)
    result = llm("run", "--endpoint", URL, "story")
    assert result.exit_code == 130
    assert result.stdout.startswith("Part")


def test_connection_refused_through_the_funnel(llm: Runner) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    llm.remote_engine = lambda e: RemoteEngine.open(e, transport=httpx.MockTransport(refuse))
    result = llm("run", "--endpoint", URL, "hi")
    assert result.exit_code == 5
    [line] = result.stderr.splitlines()
    assert "cannot connect to http://mock:8080: [Errno 111] Connection refused" in line


def test_sentiment_on_a_server_that_cannot_score(llm: Runner) -> None:
    mock = MockServer(llama_server=False)
    llm.remote_engine = lambda endpoint: mock.open(endpoint)
    result = llm("sentiment", "--endpoint", URL, "I love it")
    assert result.exit_code == 1 and "cannot score labels" in result.stderr


def test_sentiment_scores_on_llama_server(llm: Runner, server: MockServer) -> None:
    result = llm("sentiment", "--endpoint", URL, "--json", "I love it")
    assert result.exit_code == 0, result.stderr
    assert set(json.loads(result.stdout)) >= {"label", "score", "probs"}
    assert server.bodies("/completion")  # scored by forced-token log-probabilities


def test_endpoint_dataclass_hides_the_key() -> None:
    assert "secret" not in repr(Endpoint(URL, api_key="secret"))


def test_summarize_is_sized_on_the_servers_context(llm: Runner, server: MockServer) -> None:
    server.n_ctx = 1024  # the mock counts one token a character
    text = "The council met on Monday and approved a new park near the river. " * 60
    result = llm("summarize", "--endpoint", URL, stdin=text)
    assert result.exit_code == 0, result.stderr
    asked = server.bodies("/v1/chat/completions")
    assert len(asked) > 2  # mapped over parts, then reduced
    for body in asked:
        prompt = "".join(f"<{m['role']}>{m['content']}" for m in body["messages"])
        assert len(prompt) < server.n_ctx


def test_info_table_lists_each_endpoint(llm: Runner) -> None:
    llm.environ["LLM_ENDPOINT"] = "http://a:1,http://b:2"
    result = llm("info")
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "url: http://" in line]
    assert len(lines) == 2 and lines[0].startswith("endpoints")
