"""Chunking on the tokenizer: every piece fits, cuts fall at boundaries, nothing is lost."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from llmcli.tasks.chunking import BOUNDARIES, chunk_text, sentences, split_edges, split_keep
from tests.fake_engine import FakeEngine


@pytest.fixture
def tok() -> FakeEngine:
    return FakeEngine()


def test_short_text_is_one_chunk(tok: FakeEngine) -> None:
    assert chunk_text("One two three.", 10, tok) == ["One two three."]


def test_empty_text_has_no_chunks(tok: FakeEngine) -> None:
    assert chunk_text("", 10, tok) == []


def test_budget_must_be_positive(tok: FakeEngine) -> None:
    with pytest.raises(ValueError):
        chunk_text("a b", 0, tok)


def test_paragraphs_are_packed_whole(tok: FakeEngine) -> None:
    text = "a b c.\n\nd e f.\n\ng h i.\n\nj k l."
    chunks = chunk_text(text, 8, tok)  # "a b c.\n\n" is 4 tokens: the break is one
    assert chunks == ["a b c.\n\nd e f.\n\n", "g h i.\n\nj k l."]
    assert "".join(chunks) == text


def test_long_paragraph_is_cut_at_sentence_ends(tok: FakeEngine) -> None:
    text = "One two three. Four five six! Seven eight nine? Ten eleven twelve."
    chunks = chunk_text(text, 8, tok)
    assert chunks == ["One two three. Four five six! ", "Seven eight nine? Ten eleven twelve."]


def test_long_sentence_is_cut_at_clauses_then_words(tok: FakeEngine) -> None:
    text = "alpha beta gamma, delta epsilon zeta, eta theta iota kappa lambda mu"
    chunks = chunk_text(text, 4, tok)
    assert chunks[0] == "alpha beta gamma, "
    assert all(tok.count_tokens(c) <= 4 for c in chunks)
    assert "".join(chunks) == text


def test_single_run_longer_than_budget_is_cut_between_tokens() -> None:
    class CharTokenizer:
        """One token per character: a long unbroken word needs the hard split."""

        def count_tokens(self, text: str) -> int:
            return len(text)

        def tokenize(self, text: str) -> list[int]:
            return [ord(c) for c in text]

        def detokenize(self, tokens: Sequence[int]) -> str:
            return "".join(chr(t) for t in tokens)

    word = "x" * 25
    chunks = chunk_text(f"see {word} here", 10, CharTokenizer())
    assert "".join(chunks) == f"see {word} here"
    assert all(len(c) <= 10 for c in chunks)


def test_every_chunk_fits_and_joins_back_exactly(tok: FakeEngine) -> None:
    paragraphs = []
    for p in range(40):
        sentences = [
            " ".join(f"w{p}_{s}_{i}" for i in range(3 + (p * s) % 11)) + "."
            for s in range(p % 7 + 1)
        ]
        paragraphs.append(" ".join(sentences))
    text = "\n\n".join(paragraphs) + "\n"
    for budget in (5, 17, 64, 300):
        chunks = chunk_text(text, budget, tok)
        assert "".join(chunks) == text
        assert all(tok.count_tokens(c) <= budget for c in chunks)


def test_chunks_are_few_when_paragraphs_are_small(tok: FakeEngine) -> None:
    text = "\n\n".join("one two three four five." for _ in range(100))
    chunks = chunk_text(text, 50, tok)
    assert len(chunks) == 13  # greedy: 8 paragraphs of 6 tokens (5 words + break) per chunk


def test_two_hundred_thousand_words(tok: FakeEngine) -> None:
    paragraph = " ".join(f"word{i}" for i in range(200)) + "."
    text = "\n\n".join([paragraph] * 1000)
    chunks = chunk_text(text, 3000, tok)
    assert "".join(chunks) == text
    assert len(chunks) == 72  # 14 paragraphs of 201 tokens per chunk


def test_split_keep_keeps_separators_on_the_left() -> None:
    assert split_keep("a\n\nb\n\n\nc", BOUNDARIES[0]) == ["a\n\n", "b\n\n\n", "c"]
    assert split_keep("\n\nlead", BOUNDARIES[0]) == ["\n\nlead"]


def test_split_edges() -> None:
    assert split_edges("  \nHello there.\n\n") == ("  \n", "Hello there.", "\n\n")
    assert split_edges("   ") == ("   ", "", "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Dr. Smith met J. R. R. Tolkien in the U.S. in Jan. 1950. He left.",
            ["Dr. Smith met J. R. R. Tolkien in the U.S. in Jan. 1950. ", "He left."],
        ),
        ("Use e.g. this one. Then stop! Why?", ["Use e.g. this one. ", "Then stop! ", "Why?"]),
        (
            'He said "go." Then she left!\nNobody.',
            ['He said "go." ', "Then she left!\n", "Nobody."],
        ),
        ("A lower case. word follows", ["A lower case. word follows"]),
        ("No end at all", ["No end at all"]),
    ],
)
def test_sentences_skip_abbreviations_and_initials(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected
    assert "".join(sentences(text)) == text
