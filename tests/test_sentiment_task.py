"""The sentiment task logic: labels, probabilities, few-shot filtering, batch lines, metrics."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from llmcli.engine import Message
from llmcli.errors import InputError, TemplateError, UsageError
from llmcli.prompts import Template, parse_template
from llmcli.tasks.sentiment import (
    UNCERTAIN,
    Classifier,
    EvalReport,
    LineResult,
    build_messages,
    check_labels,
    eval_labels,
    evaluate,
    jsonl_texts,
    label_bias,
    parse_eval,
    parse_labels,
    predict,
    softmax,
)
from tests.fake_engine import FakeEngine

TEMPLATE = """\
name = "t"
system = "Answer with one of: {{ labels }}."
user = "Text: {{ text }}"

[variables.text]
required = true

[variables.labels]
default = "positive, negative"

[[examples]]
user = "Text: great"
assistant = "positive"

[[examples]]
user = "Text: boring"
assistant = "negative"

[[examples]]
user = "Text: it is Tuesday"
assistant = "neutral"
"""


@pytest.fixture
def template(tmp_path: Path) -> Template:
    path = tmp_path / "t.toml"
    path.write_text(TEMPLATE, encoding="utf-8")
    return parse_template(path, "file")


def keyword_scorer(messages: Sequence[Message], labels: Sequence[str]) -> list[float]:
    """Scores a label high when the last message mentions it ("good" counts as positive)."""
    text = messages[-1].content.lower().replace("good", "positive").replace("bad", "negative")
    return [0.0 if label in text else -3.0 for label in labels]


def test_parse_labels_defaults_and_trims() -> None:
    assert parse_labels(None) == ("positive", "negative", "neutral")
    assert parse_labels(" bug, feature ,question") == ("bug", "feature", "question")


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("a,,b", "empty label"),
        ("a,b,", "empty label"),
        ("yes", "at least two"),
        ("yes,no,Yes", "given twice"),
        ("a\tb,c", "tab or line break"),
    ],
)
def test_bad_labels_are_usage_errors(spec: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        parse_labels(spec)


class UnknownCharsEngine(FakeEngine):
    """A vocabulary without emoji: every one of them is the same unknown token."""

    def tokenize(self, text: str) -> list[int]:
        return [0 if not ch.isascii() else ord(ch) for ch in text]


def test_labels_that_tokenize_identically_are_refused() -> None:
    with pytest.raises(UsageError, match="same tokens"):
        check_labels(UnknownCharsEngine(), ["😀", "😡"])
    check_labels(UnknownCharsEngine(), ["good", "bad"])


def test_softmax_is_a_distribution() -> None:
    probs = softmax([-1.0, -2.0, -1000.0])
    assert math.isclose(sum(probs), 1.0)
    assert probs[0] > probs[1] > probs[2] >= 0.0
    assert math.isclose(probs[0] / probs[1], math.e)


def test_predict_takes_the_most_probable_label_and_threshold_makes_it_uncertain() -> None:
    engine = FakeEngine(scorer=lambda m, c: [-0.1, -0.5])
    messages = [Message("user", "x")]
    sure = predict(engine, messages, ("yes", "no"))
    assert sure.label == "yes"
    assert math.isclose(sure.score, 1 / (1 + math.exp(-0.4)))
    assert math.isclose(sum(sure.probs.values()), 1.0)
    unsure = predict(engine, messages, ("yes", "no"), threshold=0.9)
    assert unsure.label == UNCERTAIN and unsure.probs == sure.probs


def test_examples_with_answers_outside_the_labels_are_dropped(template: Template) -> None:
    messages = build_messages(template, "hello", ("positive", "negative"))
    assert [m.role for m in messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert "neutral" not in [m.content for m in messages]
    assert messages[0].content == "Answer with one of: positive, negative."
    custom = build_messages(template, "hello", ("bug", "feature"))
    assert [m.role for m in custom] == ["system", "user"]


def test_template_without_text_variable_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('user = "{{ input }}"\n[variables.input]\ndefault = ""\n', encoding="utf-8")
    with pytest.raises(TemplateError, match="'text'"):
        build_messages(parse_template(path, "file"), "x", ("a", "b"))


def test_batch_keeps_order_empty_lines_and_per_line_errors(template: Template) -> None:
    engine = FakeEngine(scorer=keyword_scorer, n_ctx=80)
    classifier = Classifier(engine, template, ("positive", "negative"))
    lines: list[str | InputError] = [
        "good stuff",
        "",
        "word " * 60,
        InputError("not valid JSON"),
        "bad stuff",
    ]
    results = list(classifier.classify_lines(lines))
    assert [r.line for r in results] == [1, 2, 3, 4, 5]
    assert results[0].prediction and results[0].prediction.label == "positive"
    assert results[1] == LineResult(2)
    assert results[2].error and "tokens" in results[2].error
    assert results[3].error == "not valid JSON"
    assert results[4].prediction and results[4].prediction.label == "negative"


def test_batch_prompts_share_their_prefix(template: Template) -> None:
    """Only the last message differs between texts, so the engine can reuse the KV cache."""
    engine = FakeEngine(scorer=keyword_scorer)
    classifier = Classifier(engine, template, ("positive", "negative"))
    list(classifier.classify_lines(["good", "bad", "so-so"]))
    prefixes = [tuple(messages[:-1]) for messages, _ in engine.score_calls]
    assert len(set(prefixes)) == 1 and len(prefixes[0]) == 5


def test_jsonl_texts_extracts_the_field_and_reports_bad_lines() -> None:
    lines = ['{"text": "hi", "id": 1}', "", "{oops", '{"body": "x"}', '["text"]']
    out = list(jsonl_texts(lines, "text"))
    assert out[:2] == ["hi", ""]
    assert isinstance(out[2], InputError) and "not valid JSON" in out[2].message
    assert isinstance(out[3], InputError) and "'text'" in out[3].message
    assert isinstance(out[4], InputError)


def test_metrics_on_a_hand_checked_example() -> None:
    report = EvalReport(("pos", "neg"), ["pos", "pos", "neg", "neg"], ["pos", "neg", "neg", "neg"])
    assert report.accuracy == 0.75
    scores = report.per_label()
    assert (scores["pos"].precision, scores["pos"].recall, scores["pos"].support) == (1.0, 0.5, 2)
    assert math.isclose(scores["pos"].f1, 2 / 3)
    assert math.isclose(scores["neg"].precision, 2 / 3) and scores["neg"].recall == 1.0
    assert math.isclose(report.macro_f1, (2 / 3 + 0.8) / 2)
    assert report.confusion() == {"pos": {"pos": 1, "neg": 1}, "neg": {"pos": 0, "neg": 2}}


def test_uncertain_predictions_get_a_confusion_column_and_count_as_wrong() -> None:
    report = EvalReport(("a", "b"), ["a", "b"], ["a", UNCERTAIN])
    assert report.accuracy == 0.5
    assert report.confusion()["b"] == {"a": 0, "b": 0, UNCERTAIN: 1}
    assert report.per_label()["b"].recall == 0.0
    assert report.as_dict()["uncertain"] == 1


def test_parse_eval_skips_header_and_points_at_bad_rows() -> None:
    rows = parse_eval("text\tlabel\nnice film\tpositive\n\nawful\tnegative\n", "dev.tsv")
    assert rows == [("nice film", "positive"), ("awful", "negative")]
    with pytest.raises(InputError, match=r"dev.tsv:2: expected text<TAB>label"):
        parse_eval("a\tpositive\nno label here\n", "dev.tsv")
    with pytest.raises(InputError, match="no text<TAB>label rows"):
        parse_eval("text\tlabel\n", "dev.tsv")


def test_eval_labels_come_from_the_file_unless_given() -> None:
    rows = [("x", "neg"), ("y", "pos"), ("z", "neg")]
    assert eval_labels(rows, None) == ("neg", "pos")
    assert eval_labels(rows, ("pos", "neg", "neutral")) == ("pos", "neg", "neutral")
    with pytest.raises(InputError, match="'neg', not among --labels"):
        eval_labels(rows, ("pos", "meh"))


def test_evaluate_runs_every_row(template: Template) -> None:
    engine = FakeEngine(scorer=keyword_scorer)
    classifier = Classifier(engine, template, ("positive", "negative"))
    rows = [("good", "positive"), ("bad", "negative"), ("good but", "negative")]
    ticks = iter([0.0, 2.0])
    report = evaluate(classifier, rows, clock=lambda: next(ticks))
    assert report.predicted == ["positive", "negative", "positive"]
    assert math.isclose(report.accuracy, 2 / 3)
    assert report.as_dict()["texts_per_s"] == 1.5


def test_label_bias_is_the_log_mean_distribution_of_content_free_prompts() -> None:
    dists = iter([[math.log(0.8), math.log(0.2)], [math.log(0.6), math.log(0.4)]])
    engine = FakeEngine(scorer=lambda m, c: next(dists))
    bias = label_bias(engine, [[Message("user", "N/A")], [Message("user", "")]], ("a", "b"))
    assert bias == pytest.approx([math.log(0.7), math.log(0.3)])
    engine.scorer = lambda m, c: [math.log(0.7), math.log(0.3)]  # exactly the bias: no lean
    flat = predict(engine, [Message("user", "x")], ("a", "b"), bias=bias)
    assert flat.probs == pytest.approx({"a": 0.5, "b": 0.5})
