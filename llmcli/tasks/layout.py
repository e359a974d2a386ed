"""The layout translation keeps: fenced code, paragraphs, and the markers of list-like lines.

Pure text functions: the translator takes these off before a model call and puts them back
after it, so the model never sees layout it could lose.
"""

from __future__ import annotations

import re

from llmcli.tasks.chunking import BOUNDARIES, fences, split_keep

MARKER = re.compile(
    r"^([ \t]*(?:(?:[-*+•]|\d{1,3}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?|>+[ \t]?|#{1,6}[ \t]+)?)"
)
LIST_LINE = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)]|>|#{1,6}|\|)[ \t]")


def blocks(text: str) -> list[tuple[str, str]]:
    """("code", fenced block) kept verbatim, and ("text", paragraph) to translate, in order."""
    out: list[tuple[str, str]] = []
    start = 0
    for begin, end in fences(text):  # a linear scan (a regex was quadratic on open fences)
        out.extend(("text", p) for p in split_keep(text[start:begin], BOUNDARIES[0]))
        out.append(("code", text[begin:end]))
        start = end
    out.extend(("text", p) for p in split_keep(text[start:], BOUNDARIES[0]))
    return out


def is_line_shaped(paragraph: str) -> bool:
    """Lists, quotes, headings, tables: the lines are the units, not the paragraph."""
    return any(LIST_LINE.match(row) for row in paragraph.split("\n"))


def split_marker(row: str) -> tuple[str, str]:
    """("  - ", "rest of the line"): indentation and list/quote/heading markers stay ours."""
    match = MARKER.match(row)
    prefix = match.group(1) if match else ""
    return prefix, row[len(prefix) :].strip()
