"""The short form of a schema: `'name, age int, tags list'`, a description after a colon.

Fields are separated by commas, or by newlines when there is a newline (descriptions may
then hold commas). Each field is `NAME [TYPE][: description]`; a name ending in `?` is
optional. Types: str (the default), int, float, bool, date, list (of strings), `list[T]`
(of one of the others), and `a|b|c`, one of these strings. Every field is required unless
marked, and no other field is allowed: what a script extracting fields wants.
"""

from __future__ import annotations

import re
from typing import Any

from llmcli.errors import UsageError

_SCALARS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "string": {"type": "string"},
    "int": {"type": "integer"},
    "integer": {"type": "integer"},
    "float": {"type": "number"},
    "number": {"type": "number"},
    "bool": {"type": "boolean"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
}
_NAME = re.compile(r"^[A-Za-z_][\w-]*\??$")
_LIST = re.compile(r"^list(?:\[(\w+)\])?$")


def parse_short(spec: str) -> dict[str, Any]:
    """The short form -> an object schema; a malformed field is a UsageError naming it."""
    separator = "\n" if "\n" in spec else ","
    fields = [part.strip() for part in spec.split(separator)]
    if not any(fields):
        raise UsageError("--schema is empty", hint="e.g. --schema 'name, age int, tags list'")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in fields:
        if not field:
            continue
        name, prop = _field(field)
        if name.rstrip("?") in properties:
            raise UsageError(f"schema field {name.rstrip('?')!r} is given twice")
        if not name.endswith("?"):
            required.append(name)
        properties[name.rstrip("?")] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _field(text: str) -> tuple[str, dict[str, Any]]:
    head, colon, description = text.partition(":")
    words = head.split()
    if not words or len(words) > 2 or not _NAME.match(words[0]):
        raise UsageError(
            f"schema field {text!r} is not NAME [TYPE][: description]",
            hint="e.g. 'name, age int: age in years, tags list'",
        )
    prop = dict(_type(words[1] if len(words) == 2 else "str", text))
    if colon and description.strip():
        prop["description"] = description.strip()
    return words[0], prop


def _type(word: str, field: str) -> dict[str, Any]:
    if word.lower() in _SCALARS:
        return _SCALARS[word.lower()]
    listed = _LIST.match(word.lower())
    if listed:
        inner = listed.group(1) or "str"
        if inner not in _SCALARS:
            raise UsageError(f"schema field {field!r}: unknown list item type {inner!r}")
        return {"type": "array", "items": _SCALARS[inner]}
    if "|" in word:
        choices = word.split("|")
        if any(not c for c in choices) or len(set(choices)) != len(choices):
            raise UsageError(f"schema field {field!r}: choices must be distinct words a|b|c")
        return {"type": "string", "enum": choices}
    known = "str, int, float, bool, date, list, list[T], a|b|c"
    raise UsageError(f"schema field {field!r}: unknown type {word!r} (types: {known})")
