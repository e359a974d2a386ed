"""Reasoning models through the commands: thinking is folded, dropped, shown or kept apart,
and never reaches a task's output. The FakeEngine splits its replies as LlamaEngine does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcli.engine.reasoning import TAGS
from tests.conftest import Runner
from tests.fake_engine import FakeEngine
from tests.test_chat_repl import ENTER, type_keys

REPLY = "<think>\nThe user wants the capital of France. It is Paris.\n</think>\n\nParis."
THOUGHT = "The user wants the capital of France. It is Paris."


@pytest.fixture
def thinker(engine: FakeEngine) -> FakeEngine:
    engine.thinking = TAGS[0]
    engine.replies = [REPLY]
    return engine


def test_piped_run_drops_the_thinking(llm: Runner, thinker: FakeEngine) -> None:
    result = llm("run", "Capital of France?")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Paris.\n"


def test_show_thinking_writes_it_first_between_markers(llm: Runner, thinker: FakeEngine) -> None:
    result = llm("run", "--show-thinking", "Capital of France?")
    assert result.stdout == f"<think>\n{THOUGHT}\n</think>\n\nParis.\n"


def test_json_has_reasoning_beside_text(llm: Runner, thinker: FakeEngine) -> None:
    data = json.loads(llm("run", "--json", "Capital of France?").stdout)
    assert data["text"] == "Paris."
    assert data["reasoning"] == THOUGHT


def test_json_reasoning_is_empty_for_other_models(llm: Runner, engine: FakeEngine) -> None:
    data = json.loads(llm("run", "--json", "hi").stdout)
    assert data["reasoning"] == ""


def test_terminal_folds_the_thinking_into_one_line(llm: Runner, thinker: FakeEngine) -> None:
    result = llm("run", "Capital of France?", tty=True)
    assert "thought for 10 words; --show-thinking shows it" in result.stdout
    assert THOUGHT not in result.stdout
    assert "Paris." in result.stdout


def test_terminal_shows_it_in_full_when_asked(llm: Runner, thinker: FakeEngine) -> None:
    result = llm("run", "--show-thinking", "Capital of France?", tty=True)
    assert THOUGHT in result.stdout and "Paris." in result.stdout


def test_an_unclosed_block_is_no_answer(llm: Runner, thinker: FakeEngine) -> None:
    thinker.replies = ["<think>\nStill thinking when the tokens ran out"]
    result = llm("run", "--max-tokens", "5", "Capital of France?")
    assert result.stdout == ""
    assert "stopped: length" in result.stderr


def test_translate_never_outputs_thinking(llm: Runner, thinker: FakeEngine) -> None:
    thinker.replies = ["<think>\nIn Portuguese that is bom dia.\n</think>\n\nBom dia."]
    result = llm("translate", "--to", "pt", "Good morning.")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Bom dia.\n"
    assert thinker.calls[-1].options.think is False


def test_summarize_never_outputs_thinking(llm: Runner, thinker: FakeEngine) -> None:
    thinker.replies = ["<think>\nThe text is about a library.\n</think>\n\nA library opens."]
    result = llm("summarize", stdin="The city opens a new library on Monday. It is big.\n")
    assert result.exit_code == 0, result.stderr
    assert "think" not in result.stdout and "about a library" not in result.stdout
    assert thinker.calls[-1].options.think is False


# -- chat ------------------------------------------------------------------------------------


def test_piped_chat_keeps_reasoning_apart_in_the_session(
    llm: Runner, thinker: FakeEngine, tmp_path: Path
) -> None:
    result = llm("chat", "--session", "t", stdin="Capital of France?\nAnd of Spain?\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Paris.\n\nParis.\n"
    saved = json.loads((tmp_path / "data" / "sessions" / "t.json").read_text())
    reply = saved["messages"][1]
    assert reply == {"role": "assistant", "content": "Paris.", "reasoning_content": THOUGHT}
    second = thinker.calls[-1].messages
    assert [m.content for m in second if m.role == "assistant"] == ["Paris."]  # not inlined
    assert second[-2].as_dict()["reasoning_content"] == THOUGHT  # for templates that read it


def test_resumed_session_keeps_the_reasoning(llm: Runner, thinker: FakeEngine) -> None:
    llm("chat", "--session", "t", stdin="Capital of France?\n")
    thinker.replies = ["Madrid."]
    llm("chat", "--session", "t", stdin="And of Spain?\n")
    previous = [m for m in thinker.calls[-1].messages if m.role == "assistant"]
    assert previous[0].reasoning == THOUGHT


def test_think_command_unfolds_the_last_thinking(llm: Runner, thinker: FakeEngine) -> None:
    result = type_keys(llm, "Capital of France?" + ENTER + "/think" + ENTER, tty=True)
    assert result.exit_code == 0, result.stderr
    assert "thought for 10 words; /think shows it" in result.stdout
    assert THOUGHT in result.stdout.split("/think shows it", 1)[1]


def test_think_command_without_thinking(llm: Runner, engine: FakeEngine) -> None:
    result = type_keys(llm, "hi" + ENTER + "/think" + ENTER)
    assert "has no thinking" in result.stderr


def test_set_think_switches_it(llm: Runner, thinker: FakeEngine) -> None:
    keys = "/set think off" + ENTER + "a" + ENTER + "/set think on" + ENTER + "b" + ENTER
    keys += "/set think default" + ENTER + "c" + ENTER + "/set think maybe" + ENTER
    result = type_keys(llm, keys)
    assert [c.options.think for c in thinker.calls] == [False, True, None]
    assert "think must be on, off" in result.stderr


def test_chat_think_flag_overrides_the_session(llm: Runner, thinker: FakeEngine) -> None:
    llm("chat", "--session", "t", "--no-think", stdin="a\n")
    llm("chat", "--session", "t", stdin="b\n")
    llm("chat", "--session", "t", "--think", stdin="c\n")
    assert [c.options.think for c in thinker.calls] == [False, False, True]
