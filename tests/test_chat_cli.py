"""`llm chat` through main() on the FakeEngine: scripted (piped) chats, sessions, errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from llmcli.engine import Message
from tests.conftest import Runner
from tests.fake_engine import FakeEngine


def session_file(tmp_path: Path, name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (tmp_path / "data" / "sessions" / f"{name}.json").read_text("utf-8")
    )
    return data


def test_each_line_is_a_turn_and_replies_are_a_blank_line_apart(
    llm: Runner, engine: FakeEngine
) -> None:
    engine.replies = ["Hello.", "Then we talk."]
    result = llm("chat", stdin="hi\n\n   \nand then?\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Hello.\n\nThen we talk.\n"
    assert [c.user for c in engine.calls] == ["hi", "and then?"]
    second = engine.calls[1].messages
    assert [m.role for m in second] == ["system", "user", "assistant", "user"]
    assert second[2] == Message("assistant", "Hello.")
    assert engine.closed


def test_piped_chat_without_a_session_flag_saves_nothing(llm: Runner, tmp_path: Path) -> None:
    assert llm("chat", stdin="hi\n").exit_code == 0
    assert not (tmp_path / "data" / "sessions").exists()


def test_session_is_created_saved_and_resumed(
    llm: Runner, engine: FakeEngine, tmp_path: Path
) -> None:
    engine.replies = ["Nice to meet you, Ana."]
    assert (
        llm("chat", "--session", "ana", "--temperature", "0.2", stdin="I am Ana\n").exit_code == 0
    )
    data = session_file(tmp_path, "ana")
    assert data["model"] == "smollm2"
    assert data["settings"] == {"temperature": 0.2}
    assert data["messages"] == [
        {"role": "user", "content": "I am Ana"},
        {"role": "assistant", "content": "Nice to meet you, Ana."},
    ]
    assert data["created"] and data["updated"]
    result = llm("chat", "--session", "ana", stdin="who am I?\n")
    assert result.exit_code == 0, result.stderr
    assert "resuming 'ana': 1 exchange" in result.stderr
    last = engine.calls[-1]
    assert [m.content for m in last.messages[1:3]] == ["I am Ana", "Nice to meet you, Ana."]
    assert last.options.temperature == 0.2  # the session's settings come back


def test_continue_resumes_the_latest(llm: Runner, engine: FakeEngine) -> None:
    assert llm("chat", "--session", "old", stdin="first\n").exit_code == 0
    assert llm("chat", "--session", "new", stdin="second\n").exit_code == 0
    result = llm("chat", "--continue", stdin="third\n")
    assert result.exit_code == 0, result.stderr
    assert "resuming 'new'" in result.stderr
    assert [m.content for m in engine.calls[-1].messages if m.role == "user"] == [
        "second",
        "third",
    ]


def test_flags_on_resume_override_saved_settings(
    llm: Runner, engine: FakeEngine, tmp_path: Path
) -> None:
    assert llm("chat", "--session", "s", "--temperature", "0.2", stdin="a\n").exit_code == 0
    resumed = llm("chat", "--session", "s", "--temperature", "1.5", "-s", "Be terse.", stdin="b\n")
    assert resumed.exit_code == 0, resumed.stderr
    assert engine.calls[-1].options.temperature == 1.5
    assert engine.calls[-1].messages[0] == Message("system", "Be terse.")
    assert session_file(tmp_path, "s")["system"] == "Be terse."


def test_continue_with_nothing_saved_is_an_error(llm: Runner) -> None:
    result = llm("chat", "--continue", stdin="hi\n")
    assert result.exit_code == 1
    assert "no saved chat to continue" in result.stderr


def test_corrupt_session_is_reported_and_not_overwritten(llm: Runner, tmp_path: Path) -> None:
    path = tmp_path / "data" / "sessions" / "work.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"format": "llmcli.chat/1", "messa', "utf-8")
    for args in (["--session", "work"], ["--continue"]):
        result = llm("chat", *args, stdin="hi\n")
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1
        assert "work.json is corrupt" in result.stderr and "Traceback" not in result.stderr
    assert path.read_text("utf-8") == '{"format": "llmcli.chat/1", "messa'


def test_session_and_continue_together_is_a_usage_error(llm: Runner) -> None:
    result = llm("chat", "--session", "a", "--continue", stdin="hi\n")
    assert result.exit_code == 2
    assert "not both" in result.stderr


def test_bad_session_name_is_a_usage_error(llm: Runner) -> None:
    result = llm("chat", "--session", "../../etc/passwd", stdin="hi\n")
    assert result.exit_code == 2
    assert "bad session name" in result.stderr


def test_line_too_long_for_the_context_exits_4_with_its_token_count(
    llm: Runner, engine: FakeEngine
) -> None:
    engine.n_ctx = 256
    long_line = " ".join(["word"] * 400)
    result = llm("chat", stdin=f"hi\n{long_line}\n")
    assert result.exit_code == 4
    assert "this message is 4" in result.stderr and "tokens" in result.stderr
    assert len(engine.calls) == 1


def test_long_scripted_chat_drops_old_turns_with_a_notice(llm: Runner, engine: FakeEngine) -> None:
    engine.n_ctx = 256
    engine.replies = [" ".join(["blah"] * 40)]
    lines = "".join(f"question number {i}\n" for i in range(12))
    result = llm("chat", "--session", "long", stdin=lines)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("context full: the oldest") >= 1
    for call in engine.calls:
        assert engine.count_prompt_tokens(call.messages) <= 256 - 64
        assert call.messages[0].role == "system"
    assert len(engine.calls) == 12


def test_system_prompt_flag(llm: Runner, engine: FakeEngine) -> None:
    llm("chat", "-s", "You are a pirate.", stdin="hi\n")
    assert engine.calls[0].messages[0] == Message("system", "You are a pirate.")


def test_default_system_prompt_comes_from_chat_template(llm: Runner, engine: FakeEngine) -> None:
    llm("chat", stdin="hi\n")
    assert engine.calls[0].messages[0].role == "system"
    assert "helpful" in engine.calls[0].messages[0].content


def test_template_flag_gives_system_prompt_and_settings(
    llm: Runner, engine: FakeEngine, tmp_path: Path
) -> None:
    templates = tmp_path / "config" / "templates"
    templates.mkdir(parents=True)
    (templates / "tutor.toml").write_text(
        'system = "You teach {{ subject }}."\nuser = "{{ message }}"\n'
        '[variables.subject]\ndefault = "maths"\n[variables.message]\ndefault = ""\n'
        "[settings]\ntemperature = 0.1\n",
        "utf-8",
    )
    result = llm("chat", "-t", "tutor", "-p", "subject=chemistry", stdin="hi\n")
    assert result.exit_code == 0, result.stderr
    first = engine.calls[0]
    assert first.messages[0] == Message("system", "You teach chemistry.")
    assert first.options.temperature == 0.1


def test_stats_flag_prints_a_stats_line_on_stderr(llm: Runner) -> None:
    result = llm("chat", "--stats", stdin="hi\n")
    assert "prompt +" in result.stderr and "tok/s" in result.stderr
    assert "tok/s" not in result.stdout


def test_ctrl_c_keeps_the_partial_reply_and_exits_130(
    llm: Runner, engine: FakeEngine, tmp_path: Path
) -> None:
    engine.replies = ["one two three four five"]
    engine.interrupt_after = 2
    result = llm("chat", "--session", "cut", stdin="count\nmore\n")
    assert result.exit_code == 130
    assert result.stdout == "one two\n"
    messages: Sequence[dict[str, str]] = session_file(tmp_path, "cut")["messages"]  # type: ignore[assignment]
    assert messages[-1] == {"role": "assistant", "content": "one two"}


def test_invalid_utf8_line_is_an_input_error(llm: Runner) -> None:
    result = llm("chat", stdin=b"hi\n\xff\xfe bad\n")
    assert result.exit_code == 4
    assert "stdin line 2 is not valid UTF-8" in result.stderr


def test_help_shows_examples(llm: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    assert llm("chat", "--help").exit_code == 0
    shown = capsys.readouterr().out  # click prints help to the process's stdout
    assert "llm chat --continue" in shown and "--session" in shown
