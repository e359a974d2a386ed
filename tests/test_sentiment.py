"""`llm sentiment` through main() on the FakeEngine: inputs, outputs, errors, exit codes."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from llmcli.engine import Message
from tests.conftest import Runner, captured
from tests.fake_engine import FakeEngine


def keyword_scorer(messages: Sequence[Message], labels: Sequence[str]) -> list[float]:
    """A label scores high when the text (last message) contains a word tied to it."""
    text = messages[-1].content.lower()
    words = {"positive": "love", "negative": "awful", "neutral": "tuesday", "bug": "crash"}
    return [0.0 if words.get(label, label) in text else -4.0 for label in labels]


@pytest.fixture(autouse=True)
def scored(engine: FakeEngine) -> None:
    engine.scorer = keyword_scorer


def test_single_text_prints_the_label(llm: Runner, engine: FakeEngine) -> None:
    result = llm("sentiment", "I love it")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "positive\n"
    messages, labels = engine.score_calls[-1]
    assert labels == ["positive", "negative", "neutral"]
    assert "I love it" in messages[-1].content
    assert engine.closed


def test_json_has_label_score_probs_model_and_timings(llm: Runner) -> None:
    data = json.loads(llm("sentiment", "--json", "This is awful").stdout)
    assert set(data) == {"label", "score", "probs", "model", "timings"}
    assert data["label"] == "negative"
    assert data["score"] == data["probs"]["negative"]
    assert math.isclose(sum(data["probs"].values()), 1.0, abs_tol=1e-3)
    assert data["model"] == "smollm2"
    assert data["timings"]["prompt_tokens"] > 0


def test_terminal_shows_label_and_distribution(llm: Runner) -> None:
    result = llm("sentiment", "I love it", tty=True)
    assert result.exit_code == 0
    first, *rest = result.stdout.splitlines()
    assert first.startswith("positive")
    assert len(rest) == 3 and "negative" in result.stdout


def test_custom_labels_are_scored(llm: Runner, engine: FakeEngine) -> None:
    result = llm("sentiment", "--labels", "bug,feature,question", "The app crashes")
    assert result.stdout == "bug\n"
    assert engine.score_calls[-1][1] == ["bug", "feature", "question"]
    assert "bug, feature, question" in engine.score_calls[-1][0][0].content


def test_text_from_stdin_and_from_a_file(llm: Runner, tmp_path: Path) -> None:
    assert llm("sentiment", stdin="what an awful day\n").stdout == "negative\n"
    review = tmp_path / "review.txt"
    review.write_text("I love this phone", encoding="utf-8")
    assert llm("sentiment", str(review)).stdout == "positive\n"


def test_threshold_makes_unsure_answers_uncertain(llm: Runner, engine: FakeEngine) -> None:
    engine.scorer = lambda m, labels: [-1.0, -1.2, -5.0]
    args = ("sentiment", "--no-calibrate", "--threshold")
    assert llm(*args, "0.8", "hmm").stdout == "uncertain\n"
    assert llm(*args, "0.3", "hmm").stdout == "positive\n"


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("--labels", "a,,b", "x"), 2, "empty label"),
        (("--labels", "good,Good", "x"), 2, "given twice"),
        (("--threshold", "1.5", "x"), 2, "--threshold"),
        (("--field", "text", "x"), 2, "--batch"),
        (("   ",), 4, "empty"),
        ((), 4, "nothing to classify"),
    ],
)
def test_bad_input_is_one_line_with_its_exit_code(
    llm: Runner, args: tuple[str, ...], code: int, words: str
) -> None:
    result = llm("sentiment", *args)
    assert result.exit_code == code, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_calibration_divides_out_the_prompt_bias(llm: Runner, engine: FakeEngine) -> None:
    """A model that says "positive" to everything, content-free texts included."""

    def leaning(messages: Sequence[Message], labels: Sequence[str]) -> list[float]:
        base = keyword_scorer(messages, labels)
        return [
            s + (5.0 if label == "positive" else 0.0) for s, label in zip(base, labels, strict=True)
        ]

    engine.scorer = leaning
    args = ("sentiment", "--batch", "--labels", "positive,negative")
    plain = llm(*args, "--no-calibrate", stdin="awful\n")
    assert plain.exit_code == 0, plain.stderr
    assert plain.stdout.startswith("positive")
    assert len(engine.score_calls) == 1
    result = llm(*args, stdin="awful\nI love it\n")
    assert result.exit_code == 0, result.stderr
    assert [ln.split("\t")[0] for ln in result.stdout.splitlines()] == ["negative", "positive"]
    calibration = [messages[-1].content for messages, _ in engine.score_calls[1:4]]
    assert len(engine.score_calls) == 1 + 3 + 2  # calibrated once per run, not per line
    assert all("awful" not in text and "love" not in text for text in calibration)


def test_labels_the_model_cannot_tell_apart_exit_2(llm: Runner, engine: FakeEngine) -> None:
    engine.tokenize = lambda text: [1]  # type: ignore[method-assign]
    result = llm("sentiment", "--labels", "yes,no", "x")
    assert result.exit_code == 2
    assert "same tokens" in result.stderr and result.stderr.count("\n") == 1


def test_single_text_too_long_exits_4(llm: Runner, engine: FakeEngine) -> None:
    engine.n_ctx = 64
    result = llm("sentiment", "word " * 200)
    assert result.exit_code == 4
    assert "tokens" in result.stderr and result.stderr.count("\n") == 1
    assert engine.score_calls == []


def test_batch_one_line_per_input_line_in_order(llm: Runner) -> None:
    result = llm("sentiment", "--batch", stdin="I love it\n\nThis is awful\nTuesday\n")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[-1] == "" and len(lines) == 5
    assert [ln.split("\t")[0] for ln in lines[:4]] == ["positive", "", "negative", "neutral"]
    _, score = lines[0].split("\t")
    assert 0.5 < float(score) <= 1.0


def test_batch_line_too_long_fails_alone_and_exit_is_4(llm: Runner, engine: FakeEngine) -> None:
    engine.n_ctx = 120
    text = "I love it\n" + "word " * 200 + "\nThis is awful\n"
    result = llm("sentiment", "--batch", "--labels", "positive,negative", stdin=text)
    assert result.exit_code == 4
    assert [ln.split("\t")[0] for ln in result.stdout.splitlines()] == ["positive", "", "negative"]
    assert "line 2:" in result.stderr and "tokens" in result.stderr
    assert "could not classify 1 line (line 2)" in result.stderr


def test_batch_json_lines(llm: Runner) -> None:
    result = llm("sentiment", "--batch", "--json", stdin="I love it\n\nawful\n")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3]
    assert rows[0]["label"] == "positive" and set(rows[0]["probs"]) == {
        "positive",
        "negative",
        "neutral",
    }
    assert rows[1] == {"line": 2, "label": None}
    assert rows[2]["label"] == "negative"


def test_batch_jsonl_field_with_a_bad_line(llm: Runner) -> None:
    stdin = '{"body": "I love it"}\nnot json\n{"body": "awful"}\n'
    result = llm("sentiment", "--batch", "--field", "body", "--json", stdin=stdin)
    assert result.exit_code == 4
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["label"] for r in rows] == ["positive", None, "negative"]
    assert "not valid JSON" in rows[1]["error"]


def test_batch_invalid_utf8_line_fails_alone(llm: Runner) -> None:
    result = llm("sentiment", "--batch", stdin=b"I love it\n\xff\xfe bad\nawful\n")
    assert [ln.split("\t")[0] for ln in result.stdout.splitlines()] == ["positive", "", "negative"]
    assert "line 2" in result.stderr and "UTF-8" in result.stderr


def test_batch_from_a_file_with_crlf(llm: Runner, tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(b"awful\r\nI love it\r\n")
    result = llm("sentiment", "--batch", str(path))
    assert [ln.split("\t")[0] for ln in result.stdout.splitlines()] == ["negative", "positive"]


def test_batch_needs_input(llm: Runner, tmp_path: Path) -> None:
    assert llm("sentiment", "--batch").exit_code == 4
    result = llm("sentiment", "--batch", str(tmp_path / "missing.txt"))
    assert result.exit_code == 4 and "no such file" in result.stderr


def _eval_file(tmp_path: Path) -> Path:
    path = tmp_path / "dev.tsv"
    rows = ["text\tlabel", "I love it\tpositive", "awful\tnegative", "I love awful\tnegative"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_eval_json_metrics(llm: Runner, tmp_path: Path) -> None:
    result = llm("sentiment", "--eval", str(_eval_file(tmp_path)), "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["n"] == 3
    assert math.isclose(data["accuracy"], 2 / 3, abs_tol=1e-3)
    assert data["confusion"] == {
        "positive": {"positive": 1, "negative": 0},
        "negative": {"positive": 1, "negative": 1},
    }
    assert data["labels"]["negative"]["recall"] == 0.5
    assert set(data) >= {"macro_f1", "model", "texts_per_s"}


def test_eval_table(llm: Runner, tmp_path: Path) -> None:
    result = llm("sentiment", "--eval", str(_eval_file(tmp_path)), tty=True)
    assert result.exit_code == 0, result.stderr
    for words in ("accuracy", "macro-F1", "precision", "recall", "confusion matrix", "0.667"):
        assert words in result.stdout


def test_eval_label_outside_labels_exits_4(llm: Runner, tmp_path: Path) -> None:
    result = llm("sentiment", "--eval", str(_eval_file(tmp_path)), "--labels", "positive,meh")
    assert result.exit_code == 4 and "not among --labels" in result.stderr


def test_user_template_override_is_honoured(
    llm: Runner, engine: FakeEngine, tmp_path: Path
) -> None:
    templates = tmp_path / "config" / "templates"
    templates.mkdir(parents=True)
    (templates / "sentiment.toml").write_text(
        'user = "Mood of: {{ text }}"\n[variables.text]\nrequired = true\n', encoding="utf-8"
    )
    assert llm("sentiment", "I love it").exit_code == 0
    assert [m.content for m in engine.score_calls[-1][0]] == ["Mood of: I love it"]


def test_template_option_and_a_template_without_text(llm: Runner, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('user = "{{ input }}"\n[variables.input]\ndefault = ""\n', encoding="utf-8")
    result = llm("sentiment", "-t", str(path), "hello")
    assert result.exit_code == 2 and "'text'" in result.stderr


def test_examples_for_other_labels_are_dropped(
    llm: Runner, engine: FakeEngine, tmp_path: Path
) -> None:
    path = tmp_path / "fewshot.toml"
    path.write_text(
        'user = "{{ text }}"\n[variables.text]\nrequired = true\n'
        '[[examples]]\nuser = "great"\nassistant = "positive"\n'
        '[[examples]]\nuser = "it is Tuesday"\nassistant = "neutral"\n',
        encoding="utf-8",
    )
    llm("sentiment", "-t", str(path), "--labels", "positive,negative", "I love it")
    assert [m.content for m in engine.score_calls[-1][0]] == ["great", "positive", "I love it"]
    llm("sentiment", "-t", str(path), "--labels", "bug,feature", "it crashes")
    assert [m.content for m in engine.score_calls[-1][0]] == ["it crashes"]


def test_help_has_examples(llm: Runner, capsys: pytest.CaptureFixture[str]) -> None:
    assert llm("sentiment", "--help").exit_code == 0
    shown = capsys.readouterr().out  # click prints help to the process's stdout
    assert "--batch" in shown and "llm sentiment --eval" in shown and "TEXT|FILE" in shown


def test_progress_bar_goes_to_a_terminal_stderr_only(
    llm: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setenv("TERM", "xterm")  # Rich draws no live bar on a dumb terminal
    from llmcli.output.progress import TaskProgress
    from llmcli.tasks import Progress

    env = llm.make_env()
    env.stderr_isatty = True
    with TaskProgress(env, bar=True, unit="") as update:
        update(Progress("classifying", 1, 2))
    assert "classifying" in captured(env.stderr) and captured(env.stdout) == ""
    quiet = llm.make_env()
    quiet.stderr = io.StringIO()
    with TaskProgress(quiet, bar=True, unit="") as update:
        update(Progress("classifying", 1, 2))
    assert quiet.stderr.getvalue() == ""
