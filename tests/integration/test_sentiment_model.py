"""`llm sentiment` end to end on the bundled SmolLM2, and engine.score() against llama.cpp."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.integration.conftest import RunLlm

if TYPE_CHECKING:
    from llmcli.engine import Message
    from llmcli.engine.llama import LlamaEngine


def test_batch_answers_each_line_with_a_label_from_the_set(run_llm: RunLlm) -> None:
    """The structure only; which label each line gets is bench/checks.py's sentiment_batch."""
    proc = run_llm(
        "sentiment", "--batch", "--labels", "positive,negative", stdin="I love it\nThis is awful\n"
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and all(ln.count("\t") == 1 for ln in lines)
    assert all(ln.split("\t")[0] in {"positive", "negative"} for ln in lines)
    assert all(0.5 <= float(ln.split("\t")[1]) <= 1.0 for ln in lines)
    assert proc.stderr == ""


def test_single_json_is_a_distribution(run_llm: RunLlm) -> None:
    proc = run_llm("sentiment", "--json", "What a wonderful, delightful film")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data["probs"]) == {"positive", "negative", "neutral"}
    assert math.isclose(sum(data["probs"].values()), 1.0, abs_tol=1e-3)
    assert data["label"] == max(data["probs"], key=data["probs"].get)
    assert data["timings"]["prompt_tokens"] > 0


def test_long_line_fails_alone_and_single_long_text_exits_4(run_llm: RunLlm) -> None:
    long = "the cat sat on the mat " * 120
    proc = run_llm("sentiment", "--ctx", "256", "--batch", stdin=f"I love it\n{long}\nawful\n")
    assert proc.returncode == 4
    lines = proc.stdout.split("\n")
    assert lines[0].split("\t")[0] and lines[1] == "" and lines[2].split("\t")[0]
    assert "line 2:" in proc.stderr and "Traceback" not in proc.stderr
    single = run_llm("sentiment", "--ctx", "256", long)
    assert single.returncode == 4 and single.stderr.count("\n") == 1


def test_eval_reports_metrics(run_llm: RunLlm, tmp_path: Path) -> None:
    rows = ["I love it\tpositive", "This is awful\tnegative", "Great fun\tpositive"]
    path = tmp_path / "tiny.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    proc = run_llm("sentiment", "--eval", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["n"] == 3 and 0.0 <= data["accuracy"] <= 1.0
    assert sum(sum(row.values()) for row in data["confusion"].values()) == 3


@pytest.fixture(scope="module")
def engine() -> Iterator[LlamaEngine]:
    from llmcli.engine import EngineParams
    from llmcli.engine.llama import LlamaEngine
    from llmcli.models import bundled_model_path

    path = bundled_model_path()
    assert path is not None, "the bundled model is not installed: run `make install`"
    loaded = LlamaEngine.load(EngineParams(model_path=path, n_ctx=512, threads=1))
    yield loaded
    loaded.close()


def _reference(engine: LlamaEngine, messages: Sequence[Message], label: str) -> float:
    """The label's log-probability token by token on a fresh evaluation (no reuse)."""
    import numpy as np

    from llmcli.engine import scoring

    native = engine._native
    llama = native.llama
    prompt = engine.prompt_tokens(messages)
    tokens = scoring.continuation_tokens(native, prompt, scoring.prompt_text(native, prompt), label)
    llama.n_tokens = 0
    llama.eval(prompt)
    total = 0.0
    for i, token in enumerate(tokens):
        if i:
            llama.eval([tokens[i - 1]])
        logits = np.array(native.logprobs(-1))
        total += float(logits[token])
    return total


def test_score_sums_label_tokens_as_they_follow_the_prompt(engine: LlamaEngine) -> None:
    from llmcli.engine import Message

    messages = [Message("system", "Classify the text."), Message("user", "I love it")]
    labels = ["positive", "very positive", "feature request"]
    from llmcli.engine import scoring

    prompt = engine.prompt_tokens(messages)
    text = scoring.prompt_text(engine._native, prompt)
    tokens = [scoring.continuation_tokens(engine._native, prompt, text, label) for label in labels]
    assert [len(t) for t in tokens] == [1, 2, 2]  # tokens of the label only, not the prompt
    assert engine.detokenize(tokens[1]) == "very positive"
    scores = engine.score(messages, labels)
    for label, got in zip(labels, scores, strict=True):
        assert got == pytest.approx(_reference(engine, messages, label), abs=1e-3)
    assert all(s < 0 for s in scores)


def test_score_reusing_the_shared_prefix_matches_a_fresh_evaluation(engine: LlamaEngine) -> None:
    from llmcli.engine import Message

    def messages(text: str) -> list[Message]:
        return [Message("system", "Answer positive or negative."), Message("user", text)]

    labels = ["positive", "negative"]
    engine._native.llama.n_tokens = 0
    fresh = engine.score(messages("This is awful"), labels)
    engine.score(messages("I love it"), labels)  # now only the user turn differs
    reused = engine.score(messages("This is awful"), labels)
    assert reused == pytest.approx(fresh, abs=0.05)  # batch shapes change float rounding
