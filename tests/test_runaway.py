"""The runaway guard: loops stop with finish reason "repetition"; lists and tables do not."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from llmcli.engine import Chunk, GenerationOptions, Message, Stats, StreamEvent, join_stream
from llmcli.engine.runaway import Detector, cut, guard
from tests.conftest import Runner
from tests.fake_engine import FakeEngine

LOOPS = {
    "one emoji": "🍎" * 400,
    "varied emoji": "🍍🍜❌💚💉🎨🕰️🐶👠🔵🐮💼📆📪📴🔬😵" * 20,
    "a phrase": "I love apples and bananas. " * 40,
    "a line": "- Apple: a red fruit that grows on trees in orchards everywhere\n" * 20,
    "numbered lines": "".join(f"{i}. 🍎 Apple\n" for i in range(1, 80)),
    "two lines": ("The end.\n" + "Thank you for reading this story about the sea!\n") * 20,
    "a paragraph with small changes": "".join(
        f"I'm happy to help with any special occasion{',' * (i % 2)} that you might have. "
        f"I'll do everything for your needs! Whether it's a wedding, a holiday{',' * (i % 3)} "
        f"or whatever you're planning to celebrate, I promise to be there for you! ({i})\n\n"
        for i in range(8)
    ),
}

LEGIT = {
    "a long table": "| n | square |\n| --- | --- |\n"
    + "".join(f"| {i} | {i * i} |\n" for i in range(200)),
    "a numbered list": "".join(f"{i}. Item number {i} of the list\n" for i in range(1, 200)),
    "rules and code": "-" * 80 + "\n" + "    x = 0\n" * 5 + "=" * 80 + "\n",
    "box drawing": ("┌" + "─" * 120 + "┐\n│" + " " * 120 + "│\n") * 3,
    "a few emoji": "Great work! 🎉🎉🎉 Keep going 💪 and enjoy 🍎🍌🍇.\n" * 5,
    "prose": "The library opens at nine. Children under twelve enter for free. " * 3,
    "steps sharing words": "".join(
        f"{i}. Add the {w} to the bowl, stir it into the batter with a wooden spoon until the "
        f"mixture is smooth, then let the bowl rest for {i} minutes before the next step.\n"
        for i, w in enumerate(["flour", "sugar", "eggs", "milk", "butter", "salt"], 1)
    ),
}


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_loops_are_cut(name: str) -> None:
    at = cut(LOOPS[name])
    assert at is not None and at < len(LOOPS[name])


@pytest.mark.parametrize("name", sorted(LEGIT))
def test_legitimate_structure_is_not_cut(name: str) -> None:
    assert cut(LEGIT[name]) is None


def test_the_detector_names_the_cycle() -> None:
    found = Detector()
    assert found.feed("ha " * 200)
    assert len(found.cycle) == 3 and found.cycle in "ha ha "  # the cycle, in some phase


def _stream(pieces: list[str], closed: list[bool]) -> Iterator[StreamEvent]:
    try:
        for piece in pieces:
            yield Chunk(piece)
        yield Stats(10, len(pieces), 0.1, 0.2, "stop")
    finally:
        closed.append(True)


def test_guard_closes_the_generation_and_ends_with_repetition() -> None:
    closed: list[bool] = []
    pieces = ["Here:\n"] + ["🍎"] * 10_000
    done = join_stream(guard(_stream(pieces, closed), prompt_tokens=10, count_tokens=len))
    assert closed == [True]
    assert done.stats.finish_reason == "repetition"
    assert done.stats.prompt_tokens == 10
    assert done.text.startswith("Here:\n🍎") and len(done.text) < 1000
    assert done.stats.generated_tokens == len(done.text)


def test_guard_passes_a_normal_stream_through() -> None:
    closed: list[bool] = []
    pieces = ["The ", "answer ", "is ", "42."]
    events = list(guard(_stream(pieces, closed)))
    assert [e.text for e in events if isinstance(e, Chunk)] == pieces
    assert events[-1] == Stats(10, 4, 0.1, 0.2, "stop")


def test_guard_watches_thinking_text_too() -> None:
    events = iter([Chunk("loop ", reasoning=True)] * 500 + [Stats(1, 500, 0, 0, "length")])
    done = join_stream(guard(events))
    assert done.stats.finish_reason == "repetition" and done.text == ""


# -- the user's view: one notice line, the text so far kept ---------------------------------


class LoopingEngine(FakeEngine):
    """Streams a line and then emoji forever, through the guard, as LlamaEngine does."""

    def _events(
        self, messages: Sequence[Message], text: str, options: GenerationOptions
    ) -> Iterator[StreamEvent]:
        def forever() -> Iterator[StreamEvent]:
            yield Chunk("1. Apple\n")
            while True:
                yield Chunk("🍌")

        return guard(forever(), prompt_tokens=5)


@pytest.fixture
def looping(llm: Runner) -> Runner:
    llm.engine = LoopingEngine()
    return llm


def test_run_stops_a_runaway_with_one_notice(looping: Runner) -> None:
    result = looping("run", "Write a short markdown list of three fruits")
    assert result.exit_code == 0
    assert result.stdout.startswith("1. Apple\n🍌") and len(result.stdout) < 1000
    notices = [line for line in result.stderr.splitlines() if "repeating" in line]
    assert len(notices) == 1 and "runaway guard" in notices[0]


def test_run_json_reports_the_repetition(looping: Runner) -> None:
    import json

    result = looping("run", "--json", "fruits")
    data = json.loads(result.stdout)
    assert data["timings"]["finish_reason"] == "repetition"
    assert data["text"].startswith("1. Apple")


def test_piped_chat_keeps_the_cut_reply_and_says_why(looping: Runner) -> None:
    result = looping("chat", stdin="fruits please\n")
    assert result.exit_code == 0
    assert result.stdout.startswith("1. Apple")
    assert "runaway guard" in result.stderr


def test_interactive_chat_says_why_the_reply_stopped(looping: Runner) -> None:
    from tests.test_chat_repl import ENTER, type_keys

    result = type_keys(looping, "fruits please" + ENTER, tty=True)
    assert result.exit_code == 0, result.stderr
    assert "Apple" in result.stdout  # rendered as a markdown list
    assert "(stopped: the model kept repeating itself (runaway guard);" in result.stdout
