"""`llm run` through main() on the FakeEngine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Runner
from tests.fake_engine import FakeEngine


def test_prompt_streams_reply_to_stdout(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = ["The answer is four."]
    result = llm("run", "What is 2+2?")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "The answer is four.\n"
    assert engine.calls[0].user == "What is 2+2?"
    assert engine.closed


def test_stdin_is_material_and_argument_is_instruction(llm: Runner, engine: FakeEngine) -> None:
    result = llm("run", "Say this in other words", stdin="Paris is the capital of France.\n")
    assert result.exit_code == 0
    user = engine.calls[0].user
    assert user.index("Paris is the capital") < user.index("Say this in other words")


def test_files_are_read_with_f(llm: Runner, engine: FakeEngine, tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("Quarterly numbers went up.", encoding="utf-8")
    assert llm("run", "-f", str(doc), "Summarize").exit_code == 0
    assert "Quarterly numbers went up." in engine.calls[0].user


def test_system_prompt_is_sent_first(llm: Runner, engine: FakeEngine) -> None:
    llm("run", "-s", "You are terse.", "hi")
    assert engine.calls[0].messages[0].role == "system"
    assert engine.calls[0].messages[0].content == "You are terse."


def test_flags_reach_generation_options(llm: Runner, engine: FakeEngine) -> None:
    llm("run", "--temperature", "0", "--top-p", "0.5", "--max-tokens", "7", "--seed", "3", "hi")
    opts = engine.calls[0].options
    assert (opts.temperature, opts.top_p, opts.max_tokens, opts.seed) == (0.0, 0.5, 7, 3)


def test_env_variable_below_flag(llm: Runner, engine: FakeEngine) -> None:
    llm.environ["LLM_TEMPERATURE"] = "0.3"
    llm("run", "hi")
    assert engine.calls[-1].options.temperature == 0.3
    llm("run", "--temperature", "0.9", "hi")
    assert engine.calls[-1].options.temperature == 0.9


def test_json_output_has_text_model_and_timings(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = ["Hi there."]
    result = llm("run", "--json", "hi")
    data = json.loads(result.stdout)
    assert data["text"] == "Hi there."
    assert data["model"] == "smollm2"
    assert data["timings"]["generated_tokens"] == 2
    assert data["timings"]["finish_reason"] == "stop"


def test_piped_output_has_no_escape_codes(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = ["# Title\n\n**bold** and `code`"]
    result = llm("run", "hi")
    assert "\x1b" not in result.stdout
    assert result.stdout.startswith("# Title")


def test_terminal_output_renders_markdown(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = ["Some **bold** words."]
    result = llm("run", "hi", tty=True)
    assert result.exit_code == 0
    assert "**" not in result.stdout
    assert "bold" in result.stdout


# -- bad input -----------------------------------------------------------------------------


def test_no_prompt_and_empty_stdin_is_exit_4(llm: Runner) -> None:
    result = llm("run", stdin="")
    assert result.exit_code == 4
    assert "nothing to do" in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_no_prompt_on_a_terminal_is_exit_4(llm: Runner) -> None:
    assert llm("run").exit_code == 4


def test_invalid_utf8_stdin_is_refused(llm: Runner, engine: FakeEngine) -> None:
    result = llm("run", "summarize", stdin=b"caf\xe9 au lait")
    assert result.exit_code == 4
    assert "not valid UTF-8" in result.stderr and "byte 3" in result.stderr
    assert engine.calls == []


def test_binary_stdin_is_refused(llm: Runner) -> None:
    result = llm("run", "what is this", stdin=b"\x7fELF\x02\x01\x01\x00\x00\x00")
    assert result.exit_code == 4
    assert "binary" in result.stderr


def test_prompt_longer_than_context_is_exit_4_with_counts(llm: Runner, engine: FakeEngine) -> None:
    engine.n_ctx = 256
    result = llm("run", "word " * 400)
    assert result.exit_code == 4
    assert "tokens" in result.stderr and "256" in result.stderr
    assert engine.calls == []


def test_missing_model_file_is_exit_3(llm: Runner, tmp_path: Path) -> None:
    result = llm("run", "-m", str(tmp_path / "nope.gguf"), "hi")
    assert result.exit_code == 3
    assert "not found" in result.stderr


def test_missing_input_file_is_exit_4(llm: Runner, tmp_path: Path) -> None:
    result = llm("run", "-f", str(tmp_path / "missing.txt"), "hi")
    assert result.exit_code == 4
    assert "no such file" in result.stderr


def test_ctx_out_of_range_is_usage_error(llm: Runner) -> None:
    result = llm("run", "--ctx", "10", "hi")
    assert result.exit_code == 2
    assert "--ctx" in result.stderr


def test_threads_out_of_range_is_usage_error(llm: Runner) -> None:
    assert llm("run", "--threads", "0", "hi").exit_code == 2
    assert llm("run", "--threads", "100000", "hi").exit_code == 2


def test_unknown_option_is_usage_error(llm: Runner) -> None:
    result = llm("run", "--no-such-flag", "hi")
    assert result.exit_code == 2


def test_ctrl_c_mid_stream_keeps_text_and_exits_130(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = ["one two three four five six"]
    engine.interrupt_after = 3
    result = llm("run", "count")
    assert result.exit_code == 130
    assert result.stdout == "one two three\n"
    assert "interrupted" in result.stderr
    assert engine.closed


def test_debug_shows_traceback(llm: Runner) -> None:
    result = llm("run", "--debug", "--ctx", "10", "hi")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr


def test_template_argument_fills_its_message_variable(llm: Runner, engine: FakeEngine) -> None:
    assert llm("run", "-t", "chat", "hello there").exit_code == 0
    assert engine.calls[0].user == "hello there"


def test_template_input_without_a_slot_is_refused_not_dropped(
    llm: Runner, engine: FakeEngine
) -> None:
    result = llm("run", "-t", "chat", "hello", stdin="extra material")
    assert result.exit_code == 2
    assert "no variable for this input" in result.stderr
    assert engine.calls == []


@pytest.mark.parametrize(
    "command",
    [
        ["run", "hi"],
        ["summarize"],
        ["translate", "--to", "pt"],
        ["sentiment"],
        ["chat"],
    ],
)
def test_every_model_command_applies_the_shared_flags(
    llm: Runner, bundled_model: Path, command: list[str]
) -> None:
    flags = ["-m", str(bundled_model), "--ctx", "300", "--threads", "1", "--gpu-layers", "0"]
    result = llm(*command, *flags, stdin="Some text.\n")
    assert result.exit_code == 0, result.stderr
    params = llm.params[-1]
    assert params.model_path == bundled_model
    assert (params.n_ctx, params.threads, params.gpu_layers) == (512, 1, "0")
