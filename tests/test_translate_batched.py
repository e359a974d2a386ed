"""`translate --lines` on an engine that decodes prompts together (LlamaEngine's
`complete_many`): each line goes alone, with translate.toml's prompt, a batch per call."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from llmcli.engine import Message
from tests.conftest import Runner
from tests.fake_engine import BatchingFakeEngine, FakeEngine
from tests.test_translate import source_of, upper


@pytest.fixture
def engine() -> FakeEngine:
    return BatchingFakeEngine(replies=[upper])


def sent(engine: FakeEngine) -> list[list[str]]:
    assert isinstance(engine, BatchingFakeEngine)
    return [[source_of(c.messages) for c in batch] for batch in engine.batches]


def test_each_line_is_its_own_prompt_and_batches_follow_the_size(
    llm: Runner, engine: FakeEngine
) -> None:
    text = "\n".join(f"line {i}" for i in range(10)) + "\n"
    result = llm("translate", "--to", "pt", "--lines", "--batch", "4", stdin=text)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"LINE {i}" for i in range(10)]
    assert sent(engine) == [[f"line {i}" for i in range(a, min(a + 4, 10))] for a in (0, 4, 8)]
    assert all("[1]" not in c.user for c in engine.calls)  # no numbered-rows prompt


def test_blank_and_number_lines_skip_the_model_and_keep_their_place(
    llm: Runner, engine: FakeEngine
) -> None:
    result = llm("translate", "--to", "pt", "--lines", stdin="one\n\n42\n- two\n")
    assert result.stdout.splitlines() == ["ONE", "", "42", "- TWO"]
    assert sent(engine) == [["one", "two"]]  # the marker is kept out; "42" skips the model


def test_a_line_of_sentences_is_translated_sentence_by_sentence_on_one_line(
    llm: Runner, engine: FakeEngine
) -> None:
    result = llm("translate", "--to", "pt", "--lines", stdin="First one. Second one.\nthird\n")
    assert result.stdout.splitlines() == ["FIRST ONE. SECOND ONE.", "THIRD"]
    assert sent(engine) == [["First one.", "Second one.", "third"]]


def test_an_empty_reply_keeps_the_line_and_says_so(llm: Runner, engine: FakeEngine) -> None:
    def empty_for_beta(messages: Sequence[Message]) -> str:
        return "" if source_of(messages) == "beta" else upper(messages)

    engine.replies = [empty_for_beta]
    result = llm("translate", "--to", "pt", "--lines", stdin="alpha\nbeta\ngamma\n")
    assert result.stdout.splitlines() == ["ALPHA", "beta", "GAMMA"]
    assert "line 2: could not be translated; kept the original" in result.stderr


def test_json_counts_prompts_and_the_calls_that_decoded_them(
    llm: Runner, engine: FakeEngine
) -> None:
    import json

    text = "\n".join(f"line {i}" for i in range(6))
    result = llm("translate", "--to", "pt", "--lines", "--batch", "4", "--json", stdin=text)
    data = json.loads(result.stdout)
    assert data["text"].splitlines() == [f"LINE {i}" for i in range(6)]
    assert (data["timings"]["calls"], data["timings"]["prompts"]) == (2, 6)
    assert len(sent(engine)) == 2


def test_a_document_goes_a_batch_of_sentences_per_call_in_order(
    llm: Runner, engine: FakeEngine
) -> None:
    text = "One. Two. Three.\n\n```\ncode stays\n```\n\nFour. Five.\n"
    result = llm("translate", "--to", "pt", "--batch", "2", stdin=text)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "ONE. TWO. THREE.\n\n```\ncode stays\n```\n\nFOUR. FIVE.\n"
    assert sent(engine) == [["One.", "Two."], ["Three.", "Four."], ["Five."]]


def test_a_remembered_lines_batch_size_is_not_used_when_lines_go_alone(
    llm: Runner, engine: FakeEngine
) -> None:
    from llmcli.cli.translate import HINT
    from llmcli.hints import save_hint

    llm("translate", "--to", "pt", "--lines", stdin="warm up\n")  # the model's cache entry
    save_hint(llm.tmp_path / "cache", llm.loaded[-1], HINT, 1)
    assert isinstance(engine, BatchingFakeEngine)
    engine.batches.clear()
    text = "\n".join(f"line {i}" for i in range(5))
    llm("translate", "--to", "pt", "--lines", stdin=text)
    assert [len(b) for b in engine.batches] == [5]


def test_the_sentences_of_one_long_line_go_together(llm: Runner, engine: FakeEngine) -> None:
    import json

    line = " ".join(f"Sentence {i}." for i in range(10))
    result = llm("translate", "--to", "pt", "--lines", "--json", stdin=line)
    data = json.loads(result.stdout)
    assert data["text"] == line.upper()
    # all ten in one complete_many call, decoded in groups of the engine's 8 sequences
    assert [len(b) for b in sent(engine)] == [8, 2]
    assert (data["timings"]["calls"], data["timings"]["prompts"]) == (2, 10)
