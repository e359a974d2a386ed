"""The source-support score and the choice among candidate summaries (no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmcli.engine import GenerationOptions
from llmcli.env import Environment
from llmcli.prompts import load_template
from llmcli.tasks.summarize import candidate_options, pick, summarize
from llmcli.tasks.support import lcs_f1, lead, support, unsupported
from tests.fake_engine import FakeEngine

ARTICLE = (
    "The city council of Springfield voted 7 to 2 on Tuesday to build a library. "
    "Mayor Ana Costa said work starts in March. Critics say the cost is too high. "
    "A fourth sentence closes the story."
)


def test_lcs_f1_is_rouge_l_on_word_lists() -> None:
    assert lcs_f1(["a", "b", "c"], ["a", "b", "c"]) == 1.0
    assert lcs_f1(["a", "x", "c"], ["a", "b", "c", "d"]) == pytest.approx(
        2 * (2 / 3 * 0.5) / (2 / 3 + 0.5)
    )
    assert lcs_f1(["c", "b", "a"], ["a", "b", "c"]) == pytest.approx(1 / 3)  # order matters
    assert lcs_f1([], ["a"]) == 0.0 and lcs_f1(["x"], ["a"]) == 0.0


def test_lead_is_the_first_sentences() -> None:
    assert lead(ARTICLE, 2) == (
        "The city council of Springfield voted 7 to 2 on Tuesday to build a library. "
        "Mayor Ana Costa said work starts in March."
    )
    assert lead("One sentence only", 3) == "One sentence only"


def test_unsupported_names_and_numbers_are_those_the_source_lacks() -> None:
    summary = "The council of Springfield voted 7 to 2. Mayor John Smith spent 40 million."
    assert unsupported(summary, ARTICLE) == ["John", "Smith", "40"]
    # a capitalised word opening a sentence is an ordinary word, and case does not matter
    assert unsupported("Critics object. The MAYOR's plan.", ARTICLE) == []


def test_support_prefers_the_summary_drawn_from_the_text() -> None:
    faithful = "Springfield's council voted 7 to 2 on Tuesday to build a library."
    invented = "Governor Bill Jones of Texas gave 300 dollars to a new zoo on Friday."
    late = "A fourth sentence closes the story."  # from the text, but not its opening
    assert support(faithful, ARTICLE) > support(late, ARTICLE) > support(invented, ARTICLE)
    assert support("", ARTICLE) == 0.0


def test_pick_takes_the_best_supported_then_the_first() -> None:
    faithful = ("The council voted 7 to 2 to build a library.", False)
    invented = ("Governor Bill Jones gave 300 dollars to a zoo.", True)
    assert pick([invented, faithful], ARTICLE) == faithful
    assert pick([("", False), faithful], ARTICLE) == faithful  # empty replies never win
    assert pick([("", True)], ARTICLE) == ("", False)
    same = [("A library.", False), ("A library.", True)]
    assert pick(same, ARTICLE) == same[0]


def test_candidates_are_the_options_then_fixed_seeds() -> None:
    greedy = GenerationOptions(temperature=0, max_tokens=160)
    drawn = candidate_options(greedy, 3)
    assert drawn[0] == greedy
    assert [(o.temperature, o.seed, o.max_tokens) for o in drawn[1:]] == [
        (0.7, 1, 160),
        (0.7, 2, 160),
    ]
    hot = candidate_options(GenerationOptions(temperature=1.2, seed=11), 2)
    assert [(o.temperature, o.seed) for o in hot] == [(1.2, 11), (1.2, 12)]
    assert candidate_options(greedy, 1) == [greedy]


def test_summarize_keeps_the_candidate_the_text_supports(
    engine: FakeEngine, tmp_path: Path
) -> None:
    engine.replies = [
        "Governor Bill Jones of Texas gave 300 dollars to a zoo.",
        "The council of Springfield voted 7 to 2 on Tuesday to build a library.",
        "",
    ]
    env = Environment(environ={}, config_dir=tmp_path)
    result = summarize(
        engine,
        ARTICLE,
        template=load_template("summarize", env),
        combine=load_template("summarize-combine", env),
        values={"length": "medium"},
        options=GenerationOptions(temperature=0, max_tokens=100),
        candidates=3,
    )
    assert result.text == "The council of Springfield voted 7 to 2 on Tuesday to build a library."
    assert [c.options.seed for c in engine.calls] == [None, 1, 2]
    assert len({c.user for c in engine.calls}) == 1 and len(result.calls) == 3
