"""Grammars that constrain sampling: GBNF text checked before a model runs, JSON Schemas
turned into GBNF, and the grammar of `translate --lines` (exactly N numbered rows).

llama.cpp's parser is the judge of GBNF: it prints its complaint ("expecting ::= at <the rest
of the source>") to stderr, which `_native` captures; we turn the position into a line number.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from llmcli.engine import GenerationOptions
from llmcli.errors import UsageError

_PREFIX = "error parsing grammar: "
_NO_VOCAB = "no vocab to parse token"
_UNDEFINED = re.compile(r"Undefined rule identifier '([^']+)'")


class GrammarError(UsageError):
    """A grammar llama.cpp will not take: exit 2, one line, where it is."""


def grammar_text(options: GenerationOptions) -> str | None:
    """The GBNF that constrains this generation, if any."""
    if options.grammar is not None and options.json_schema is not None:
        raise UsageError("give either a grammar or a JSON schema, not both")
    if options.json_schema is not None:
        return from_schema(options.json_schema)
    return options.grammar


def from_schema(schema: Mapping[str, Any]) -> str:
    return _convert(json.dumps(schema, sort_keys=False))


# llama-cpp-python 0.3.36's converter lets raw control characters (a newline) into strings,
# which JSON forbids: the reply then fails to parse. Its later versions exclude them too.
_LOOSE_CHAR = 'char ::= [^"\\\\] |'
_STRICT_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |'


@lru_cache(maxsize=16)  # a batch asks for the same schema's grammar on every line
def _convert(schema_json: str) -> str:
    from llmcli.engine import _native

    try:
        return _native.schema_to_gbnf(schema_json).replace(_LOOSE_CHAR, _STRICT_CHAR)
    except (AssertionError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise UsageError(f"the schema cannot become a grammar: {exc}") from None


def check(text: str, origin: str = "grammar") -> None:
    """Parse GBNF with llama.cpp (no model needed); GrammarError with the line if it fails."""
    from llmcli.engine import _native

    if not text.strip():
        raise GrammarError(f"{origin}: the grammar is empty")
    complaint = _native.grammar_error(text)
    if complaint is not None and _NO_VOCAB not in complaint:  # token refs: the model decides
        raise GrammarError(describe(complaint, text, origin))


def describe(complaint: str, text: str, origin: str) -> str:
    """llama.cpp's complaint as `origin:LINE:COL: what (near '...')`."""
    detail = complaint.partition(_PREFIX)[2] or complaint
    echoed = detail.rfind("\n\n" + text)  # llama.cpp then repeats the whole source
    detail = detail[:echoed] if echoed >= 0 else detail.strip()
    what, sep, rest = detail.rpartition(" at ")
    if sep and text.endswith(rest):
        offset = len(text) - len(rest)
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        near = rest.split("\n", 1)[0][:30]
        return f"{origin}:{line}:{column}: {what}" + (f" (near {near!r})" if near else "")
    lines = [ln.strip() for ln in detail.splitlines() if ln.strip()]
    what = lines[0] if lines else "llama.cpp could not parse the grammar"
    used = _use_line(text, what)
    return f"{origin}:{used}: {what}" if used else f"{origin}: {what}"


def _use_line(text: str, what: str) -> int | None:
    """The line of the first use of an undefined rule; the last line for a cut-off end."""
    if what == "unexpected end of input":
        return text.rstrip().count("\n") + 1
    undefined = _UNDEFINED.search(what)
    if undefined:
        use = re.compile(rf"(?<![\w-]){re.escape(undefined.group(1))}(?![\w-])(?!\s*::=)")
        for number, row in enumerate(text.splitlines(), 1):
            if use.search(row.partition("::=")[2] if "::=" in row else row):
                return number
    return None


# a row's characters: no line end, and no "[digit" (a row held to a length would otherwise
# run on into the next row's number)
_ROW_CHAR = '([^\\r\\n[] | "[" [^0-9\\r\\n])'


def numbered_rows(n: int, least: Sequence[int] = (), avoid: Sequence[str] = ()) -> str:
    """Exactly rows `[1] text` .. `[n] text`, one per line: batches align for any model.
    `least[i]`, when given, is the fewest characters row i+1 may have (a small model ends
    a batch's rows early, leaving most of a long line untranslated); `avoid[i]` a word
    row i+1 may not open with (see `not_words`)."""
    rows, rules = [], []
    for i in range(1, n + 1):
        fewest = least[i - 1] if i <= len(least) else 0
        count = f"{{{fewest - 1},}}" if fewest > 1 else "*"
        tail = f"{_ROW_CHAR}{count}"
        end = '"\\n"?' if i == n else '"\\n"'
        word = avoid[i - 1] if i <= len(avoid) else ""
        if len(word) > 1:
            rules.append(f"tail{i} ::= {tail}")  # one rule, not a copy per trie branch
            rules.extend(not_words(f"row{i}", [word], f"tail{i}"))
            rows.append(f'"[{i}] " row{i} {end}')
        else:
            rows.append(f'"[{i}] " [^ \\t\\r\\n[] {tail} {end}')
    return "\n".join(["root ::= " + " ".join(rows), *rules])


_LETTERS = "a-zA-Z\\u00C0-\\u024F"


def not_words(name: str, words: Sequence[str], tail: str = "[^\\r\\n]*") -> list[str]:
    """Rules `name ::= ...`: a row whose first word is none of `words` (any case), then
    `tail`. A batch row that opens like its source line is on its way to a paraphrase in
    the source language."""
    trie: dict[str, Any] = {}
    for word in {w.casefold() for w in words if w.isalpha() and w.isascii()}:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}  # a word ends here
    rules: list[str] = []

    def rule(node: dict[str, Any], rule_name: str, depth: int) -> None:
        kids = sorted(k for k in node if k)
        alts = [f"{_letters_but(kids)} {tail}"]  # leaves every word of ours behind
        if depth == 0:
            alts.append(f"[^{_LETTERS} \\t\\r\\n[] {tail}")  # a digit, a quote...
        elif "" not in node:
            alts.append(f"[^{_LETTERS}\\r\\n[] {tail}")  # the word ends: not one of ours
        for i, k in enumerate(kids):
            child = f"{rule_name}-{i}"
            alts.append(f"[{k}{k.upper()}] {child}")
            rule(node[k], child, depth + 1)
        rules.append(f"{rule_name} ::= " + " | ".join(alts))

    rule(trie, name, 0)
    return rules


def _letters_but(shut: Sequence[str]) -> str:
    """A class of the letters other than `shut` and their capitals (GBNF has no class
    difference, so the ASCII ones are spelled out)."""
    if not shut:
        return f"[{_LETTERS}]"
    closed = {c for k in shut for c in (k, k.upper())}
    ascii_letters = [chr(o) for o in range(128) if chr(o).isalpha()]
    keep = "".join(c for c in ascii_letters if c not in closed)
    return f"[{keep}\\u00C0-\\u024F]"
