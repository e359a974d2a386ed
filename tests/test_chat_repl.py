"""The interactive chat, driven by keystrokes through prompt_toolkit's pipe input."""

from __future__ import annotations

import json
from pathlib import Path

from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from llmcli.engine import Message
from tests.conftest import Result, Runner
from tests.fake_engine import FakeEngine

ENTER, ALT_ENTER, CTRL_C, CTRL_D = "\r", "\x1b\r", "\x03", "\x04"


def paste(text: str) -> str:
    return f"\x1b[200~{text}\x1b[201~"


def type_keys(llm: Runner, keys: str, *args: str, tty: bool = False) -> Result:
    """Run `llm chat ARGS` in a 'terminal' whose keyboard sends keys, then closes (EOF)."""
    with create_pipe_input() as keyboard:
        keyboard.send_text(keys)
        keyboard.close()
        with create_app_session(input=keyboard, output=DummyOutput()):
            return llm("chat", *args, tty=tty)


def users(engine: FakeEngine, call: int = -1) -> list[str]:
    return [m.content for m in engine.calls[call].messages if m.role == "user"]


def sessions(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "data" / "sessions").glob("*.json"))


# -- input ---------------------------------------------------------------------------------


def test_message_gets_a_reply_and_ctrl_d_exits_0(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = ["Hello there."]
    result = type_keys(llm, "hi" + ENTER + CTRL_D)
    assert result.exit_code == 0, result.stderr
    assert "llm chat · smollm2" in result.stdout
    assert "Hello there.\n" in result.stdout
    assert users(engine) == ["hi"]
    assert engine.closed


def test_alt_enter_adds_a_line_to_the_same_message(llm: Runner, engine: FakeEngine) -> None:
    type_keys(llm, "line one" + ALT_ENTER + "line two" + ENTER)
    assert users(engine) == ["line one\nline two"]


def test_pasted_50_line_block_is_one_message(llm: Runner, engine: FakeEngine) -> None:
    code = "\n".join(f"    x{i} = compute({i})  # step {i}" for i in range(50))
    type_keys(llm, paste("def f():\n" + code + "\n") + "What does this do?" + ENTER)
    assert len(engine.calls) == 1
    message = engine.calls[0].user
    assert message.count("\n") == 51  # def line + 50 lines, all kept
    assert message.startswith("def f():\n    x0 = compute(0)")
    assert message.endswith("What does this do?")


def test_triple_quotes_open_and_close_a_block(llm: Runner, engine: FakeEngine) -> None:
    keys = '"""' + ENTER + "first line" + ENTER + ENTER + "third line" + ENTER + '"""' + ENTER
    type_keys(llm, keys)
    assert users(engine) == ["first line\n\nthird line"]


def test_ctrl_c_clears_what_was_typed(llm: Runner, engine: FakeEngine) -> None:
    type_keys(llm, "a draft" + CTRL_C + "hi" + ENTER)
    assert users(engine) == ["hi"]


def test_ctrl_c_twice_at_an_empty_prompt_exits_0(llm: Runner, engine: FakeEngine) -> None:
    result = type_keys(llm, CTRL_C + CTRL_C + "never sent" + ENTER)
    assert result.exit_code == 0
    assert "Ctrl-C again or Ctrl-D to exit" in result.stdout
    assert engine.calls == []


def test_ctrl_c_once_then_typing_goes_on(llm: Runner, engine: FakeEngine) -> None:
    type_keys(llm, CTRL_C + "hi" + ENTER + CTRL_C + "again" + ENTER)
    assert [c.user for c in engine.calls] == ["hi", "again"]


def test_input_history_is_kept_in_the_data_dir(llm: Runner, tmp_path: Path) -> None:
    type_keys(llm, "remember me" + ENTER)
    assert "+remember me" in (tmp_path / "data" / "chat_history").read_text("utf-8")


def test_up_arrow_recalls_history_across_chats(llm: Runner, engine: FakeEngine) -> None:
    assert type_keys(llm, "an earlier question" + ENTER).exit_code == 0
    assert type_keys(llm, "\x1b[A" + ENTER).exit_code == 0
    assert engine.calls[-1].user == "an earlier question"


def complete(text: str, tmp_path: Path) -> list[str]:
    from types import SimpleNamespace

    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from llmcli.chat.repl import make_completer
    from llmcli.chat.store import SessionStore

    chat = SimpleNamespace(store=SessionStore(tmp_path / "data" / "sessions"))
    found = make_completer(chat).get_completions(Document(text), CompleteEvent(True))  # type: ignore[arg-type]
    return [c.text for c in found]


def test_tab_completes_commands_session_names_and_settings(llm: Runner, tmp_path: Path) -> None:
    llm("chat", "--session", "project-x", stdin="hi\n")
    assert complete("/he", tmp_path) == ["/help"]
    assert complete("/s", tmp_path) == ["/system", "/save", "/sessions", "/set", "/stats"]
    assert complete("/load pro", tmp_path) == ["project-x"]
    assert complete("/set temp", tmp_path) == ["temperature"]
    assert complete("hello /he", tmp_path) == []


def test_help_lists_every_command(llm: Runner) -> None:
    result = type_keys(llm, "/help" + ENTER)
    for name in ("/system", "/clear", "/undo", "/retry", "/save", "/load", "/sessions"):
        assert name in result.stdout
    for name in ("/model", "/set", "/stats", "/copy", "/exit", "Alt+Enter", "Ctrl-R"):
        assert name in result.stdout


# -- replies -------------------------------------------------------------------------------


def test_ctrl_c_while_writing_keeps_the_partial_answer(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = ["one two three four five", "ok"]
    engine.interrupt_after = 2
    result = type_keys(llm, "count" + ENTER + "go on" + ENTER)
    assert result.exit_code == 0
    assert "(stopped: the partial answer is kept;" in result.stdout
    assert engine.calls[1].messages[2] == Message("assistant", "one two")
    assert engine.calls[1].user == "go on"


def test_terminal_renders_markdown(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = ["Some **bold** words."]
    result = type_keys(llm, "hi" + ENTER, tty=True)
    assert "bold" in result.stdout and "**" not in result.stdout


def test_full_context_drops_old_turns_with_a_notice(llm: Runner, engine: FakeEngine) -> None:
    engine.n_ctx = 256
    engine.replies = [" ".join(["blah"] * 50)]
    result = type_keys(llm, "".join(f"question {i}{ENTER}" for i in range(8)))
    assert result.exit_code == 0
    assert "context full: the oldest" in result.stdout
    assert len(engine.calls) == 8


def test_message_too_long_is_refused_and_the_chat_goes_on(llm: Runner, engine: FakeEngine) -> None:
    engine.n_ctx = 256
    result = type_keys(llm, " ".join(["word"] * 300) + ENTER + "short" + ENTER)
    assert "this message is 3" in result.stderr and "tokens" in result.stderr
    assert users(engine) == ["short"]


# -- slash commands ------------------------------------------------------------------------


def test_undo_then_retry(llm: Runner, engine: FakeEngine, tmp_path: Path) -> None:
    engine.replies = ["A1", "B1", "A2"]
    type_keys(llm, "a" + ENTER + "b" + ENTER + "/undo" + ENTER + "/retry" + ENTER)
    assert [c.user for c in engine.calls] == ["a", "b", "a"]
    assert engine.calls[2].messages == engine.calls[0].messages
    data = json.loads(sessions(tmp_path)[0].read_text("utf-8"))
    assert data["messages"] == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "A2"},
    ]


def test_retry_and_undo_with_nothing_said(llm: Runner) -> None:
    result = type_keys(llm, "/retry" + ENTER + "/undo" + ENTER)
    assert "nothing to retry" in result.stderr and "nothing to undo" in result.stderr


def test_save_names_the_session_and_load_brings_it_back(
    llm: Runner, engine: FakeEngine, tmp_path: Path
) -> None:
    saving = type_keys(llm, "hi" + ENTER + "/save mine" + ENTER + "/exit" + ENTER + "never" + ENTER)
    assert saving.exit_code == 0, saving.stderr
    path = tmp_path / "data" / "sessions" / "mine.json"
    assert json.loads(path.read_text("utf-8"))["messages"][0]["content"] == "hi"
    assert len(engine.calls) == 1
    result = type_keys(llm, "/load mine" + ENTER + "and now?" + ENTER)
    assert result.exit_code == 0, result.stderr
    assert "loaded 'mine': 1 exchange" in result.stdout
    assert users(engine) == ["hi", "and now?"]
    assert len(json.loads(path.read_text("utf-8"))["messages"]) == 4


def test_save_does_not_overwrite_another_session(llm: Runner, tmp_path: Path) -> None:
    assert llm("chat", "--session", "taken", stdin="keep me\n").exit_code == 0
    before = (tmp_path / "data" / "sessions" / "taken.json").read_text("utf-8")
    result = type_keys(llm, "hi" + ENTER + "/save taken" + ENTER)
    assert "a session named 'taken' exists" in result.stderr
    assert (tmp_path / "data" / "sessions" / "taken.json").read_text("utf-8") == before


def test_load_of_a_corrupt_file_keeps_the_current_chat(
    llm: Runner, engine: FakeEngine, tmp_path: Path
) -> None:
    bad = tmp_path / "data" / "sessions" / "bad.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("not json", "utf-8")
    result = type_keys(llm, "hi" + ENTER + "/load bad" + ENTER + "more" + ENTER)
    assert "bad.json is corrupt" in result.stderr
    assert users(engine) == ["hi", "more"]
    assert bad.read_text("utf-8") == "not json"


def test_sessions_lists_saved_chats(llm: Runner) -> None:
    assert llm("chat", "--session", "alpha", stdin="hi\n").exit_code == 0
    bad = llm.tmp_path / "data" / "sessions" / "broken.json"
    bad.write_text("{", "utf-8")
    result = type_keys(llm, "/sessions" + ENTER)
    assert "1 exchange  'hi'" in result.stdout.split("alpha", 1)[1]
    assert "(unreadable)" in result.stdout.split("broken", 1)[1]


def test_interactive_chat_is_saved_for_continue(
    llm: Runner, engine: FakeEngine, tmp_path: Path
) -> None:
    engine.replies = ["Noted."]
    assert type_keys(llm, "what I said yesterday" + ENTER).exit_code == 0
    assert len(sessions(tmp_path)) == 1
    result = type_keys(llm, "", "--continue")
    assert result.exit_code == 0, result.stderr
    assert "last answer: 'Noted.'" in result.stdout
    assert llm("chat", "--continue", stdin="and today\n").exit_code == 0
    assert users(engine) == ["what I said yesterday", "and today"]


def test_clear_starts_a_new_conversation_and_keeps_the_old(
    llm: Runner, engine: FakeEngine, tmp_path: Path
) -> None:
    type_keys(llm, "hi" + ENTER + "/clear" + ENTER + "hello" + ENTER)
    assert users(engine) == ["hello"]
    assert len(sessions(tmp_path)) == 2


def test_system_command_sets_the_system_prompt(llm: Runner, engine: FakeEngine) -> None:
    type_keys(llm, "/system Be a cat." + ENTER + "hi" + ENTER + "/system off" + ENTER + "x" + ENTER)
    assert engine.calls[0].messages[0] == Message("system", "Be a cat.")
    assert engine.calls[1].messages[0].role == "user"


def test_set_changes_generation_settings_and_checks_values(llm: Runner, engine: FakeEngine) -> None:
    keys = "/set temperature 0.1" + ENTER + "/set top-p 0.5" + ENTER + "/set temperature 9" + ENTER
    keys += "/set max_tokens 3" + ENTER + "/set colour red" + ENTER + "hi" + ENTER
    result = type_keys(llm, keys)
    options = engine.calls[0].options
    assert (options.temperature, options.top_p, options.max_tokens) == (0.1, 0.5, 3)
    assert "temperature must be a number from 0 to 5, got '9'" in result.stderr
    assert "unknown setting 'colour'" in result.stderr


def test_stats_command_turns_on_the_stats_line(llm: Runner) -> None:
    result = type_keys(llm, "hi" + ENTER + "/stats" + ENTER + "again" + ENTER)
    assert result.stdout.count("tok/s") == 2  # the last reply's, then the next one's
    assert "stats after each reply: on" in result.stdout


def test_model_switch_to_a_missing_file_keeps_the_model(llm: Runner, engine: FakeEngine) -> None:
    result = type_keys(llm, "/model nowhere.gguf" + ENTER + "hi" + ENTER + "/model" + ENTER)
    assert "model file not found: nowhere.gguf" in result.stderr
    assert users(engine) == ["hi"]
    assert "model smollm2" in result.stdout


def test_model_switch_reloads_and_keeps_history(
    llm: Runner, engine: FakeEngine, bundled_model: Path
) -> None:
    type_keys(llm, "hi" + ENTER + f"/model {bundled_model}" + ENTER + "still there?" + ENTER)
    assert llm.loaded == [bundled_model, bundled_model]
    assert users(engine) == ["hi", "still there?"]


def test_copy_without_a_clipboard_says_so(llm: Runner) -> None:
    result = type_keys(llm, "/copy" + ENTER + "hi" + ENTER + "/copy" + ENTER)
    assert "no answer to copy yet" in result.stderr
    assert "no clipboard here" in result.stdout


def test_unknown_command_and_double_slash(llm: Runner, engine: FakeEngine) -> None:
    result = type_keys(llm, "/nope" + ENTER + "//etc is a folder" + ENTER)
    assert "unknown command /nope" in result.stderr
    assert users(engine) == ["/etc is a folder"]


def test_no_echo_while_streaming_restores_the_terminal() -> None:
    import os
    import termios

    from llmcli.chat.repl import no_echo

    master, slave = os.openpty()
    with os.fdopen(slave, "r") as tty:
        assert termios.tcgetattr(slave)[3] & termios.ECHO
        with no_echo(tty):  # type: ignore[arg-type]
            assert not termios.tcgetattr(slave)[3] & termios.ECHO
            assert termios.tcgetattr(slave)[3] & termios.ISIG  # Ctrl-C still interrupts
        assert termios.tcgetattr(slave)[3] & termios.ECHO
    os.close(master)
