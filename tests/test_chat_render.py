"""The live markdown frame renders a bounded tail, so long replies stay cheap per frame."""

from __future__ import annotations

from llmcli.output.stream import _tail_source


def test_short_text_is_rendered_whole() -> None:
    assert _tail_source("a\nb\nc", 10) == "a\nb\nc"


def test_long_text_keeps_the_last_lines() -> None:
    text = "\n".join(f"line {i}" for i in range(1000))
    assert _tail_source(text, 5).split("\n") == [f"line {i}" for i in range(995, 1000)]


def test_a_code_block_cut_open_is_reopened() -> None:
    text = "intro\n```python\n" + "\n".join(f"x = {i}" for i in range(100))
    tail = _tail_source(text, 10)
    assert tail.startswith("```\n") and tail.endswith("x = 99")
    closed = "```python\nx = 1\n```\n" + "\n".join(f"para {i}" for i in range(100))
    assert not _tail_source(closed, 10).startswith("```")
