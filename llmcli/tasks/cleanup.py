"""Keep only the answer: strip the chatter small models wrap around it.

The templates ask for the bare result and show it in their examples; this is the safety net
for what still slips through ("Here is a summary:", "Translation:", quotes, "Note: ...").
Each rule removes only a recognisable frame, never content: a line is dropped only when
it is short, ends the frame (a colon) and names the task or a courtesy.
"""

from __future__ import annotations

import re

# Words that mark a lead-in line as chatter, in English and a few common target languages.
_FRAME_WORDS = (
    r"here|sure|certainly|of course|okay|ok|below|following|"
    r"summary|summarized|summarised|summarize|tl;?dr|in short|overview|key points|"
    r"translation|translated|translate|"
    r"resumo|resumen|résumé|zusammenfassung|riassunto|samenvatting|"
    r"tradução|traducción|traduction|übersetzung|traduzione|vertaling"
)
_LEAD_LINE = re.compile(
    rf"^\s*(?:[#*_>\s]*)(?=[^\n]*\b(?:{_FRAME_WORDS})\b)[^\n]{{0,100}}:\s*(?:[*_]+)?\s*(?:\n|$)",
    re.IGNORECASE,
)
_COURTESY = re.compile(
    r"^\s*(?:sure|certainly|of course|okay|ok|absolutely|great|claro|bien sûr)\b[^\n]{0,20}?[!.,]?\s*\n",
    re.IGNORECASE,
)
_LABEL = re.compile(
    r"^\s*(?:\*\*|__)?(?:summary|translation|translated text|tl;?dr|resumo|tradução|"
    r"resumen|traducción|résumé|traduction)(?:\s*\([^)\n]{0,40}\))?\s*(?:\*\*|__)?\s*:"
    r"\s*(?:\*\*|__)?[ \t]*",
    re.IGNORECASE,
)
_TRAILER = re.compile(
    r"\n\s*\n\s*(?:\(|\*\*|_)?\s*(?:note|notes|nota|please note|i hope|let me know|"
    r"this (?:summary|translation)|explanation)\b[^\n]*(?:\n.*)*\Z",
    re.IGNORECASE | re.DOTALL,
)
_QUOTES = (('"', '"'), ("“", "”"), ("'", "'"), ("«", "»"), ("„", "“"), ("「", "」"))


def strip_preamble(text: str) -> str:
    """Drop lead-in lines ("Here is a summary:") and a leading label ("Summary: ...")."""
    text = text.strip()
    for _ in range(3):  # "Sure!\nHere is the summary:" has two
        match = _COURTESY.match(text) or _LEAD_LINE.match(text)
        if not match or not text[match.end() :].strip():
            break
        text = text[match.end() :].lstrip()
    first_line = text.split("\n", 1)[0]
    label = _LABEL.match(first_line)
    if label and first_line[label.end() :].strip():
        text = text[label.end() :]
    elif label and "\n" in text:
        text = text.split("\n", 1)[1].lstrip()
    return text.strip()


def strip_trailer(text: str, source: str) -> str:
    """Drop a closing "Note: ..." paragraph the source did not have."""
    match = _TRAILER.search(text)
    if not match:
        return text
    if _TRAILER.search("\n\n" + source.strip()) or match.start() == 0:
        return text
    return text[: match.start()].rstrip()


def strip_quotes(text: str, source: str) -> str:
    """Remove quotes wrapped around the whole answer when the source was not quoted."""
    src = source.strip()
    for left, right in _QUOTES:
        if len(text) < 2 or not (text.startswith(left) and text.endswith(right)):
            continue
        inner = text[len(left) : -len(right)]
        quoted_source = src.startswith(left) and src.endswith(right)
        if left not in inner and right not in inner and not quoted_source:
            return inner.strip()
    return text


def clean_answer(text: str, source: str) -> str:
    """All of the above, in the order the chatter appears."""
    return strip_quotes(strip_trailer(strip_preamble(text), source), source)
