"""Grammars that constrain sampling: GBNF text checked before a model runs, JSON Schemas
turned into GBNF, and the grammar of `translate --lines` (exactly N numbered rows).

llama.cpp's parser is the judge of GBNF: it prints its complaint ("expecting ::= at <the rest
of the source>") to stderr, which `_native` captures; we turn the position into a line number.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
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


def numbered_rows(n: int) -> str:
    """Exactly rows `[1] text` .. `[n] text`, one per line: batches align for any model."""
    rows = " ".join(f'"[{i}] " line "\\n"' for i in range(1, n))
    last = f'"[{n}] " line "\\n"?'
    return "\n".join(
        [
            f"root ::= {rows} {last}".replace("  ", " "),
            r"line ::= [^ \t\r\n] [^\r\n]*",
        ]
    )
