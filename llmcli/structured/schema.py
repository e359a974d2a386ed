"""A JSON Schema from S (inline JSON, a file, or the short form), checked before any model
runs, and the validation of a reply against it.

The check refuses three things with one line each (exit 2): JSON that is not a JSON Schema
(the meta-schema says where), a keyword the in-process grammar cannot enforce (named, with
where it is: a reply could then break it at random), and the common contradictions no output
can satisfy (an empty enum, minItems over maxItems, a required field that is not allowed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmcli.errors import InputError, UsageError

# What llama-cpp-python 0.3.36's schema-to-grammar converter enforces, and annotations.
ENFORCED = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "prefixItems",
        "minItems", "maxItems", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs",
        "definitions", "pattern", "format", "minLength", "maxLength",
    }
)  # fmt: skip
ANNOTATIONS = frozenset(
    {
        "title", "description", "examples", "default", "$schema", "$id", "$comment",
        "readOnly", "writeOnly", "deprecated",
    }
)  # fmt: skip
FORMATS = frozenset({"date", "time", "date-time", "uuid"})
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


@dataclass(frozen=True)
class Schema:
    data: Mapping[str, Any]
    origin: str  # "short form", "inline", a file name, "template NAME"

    def as_text(self, indent: int | None = None) -> str:
        return json.dumps(self.data, ensure_ascii=False, indent=indent)


class ReplyInvalid(InputError):
    """A reply that does not validate (cut by --max-tokens, or a keyword the grammar lets
    through): exit 4, and the caller shows the raw text on stderr."""

    def __init__(self, message: str, raw: str) -> None:
        super().__init__(message)
        self.raw = raw


def load_schema(spec: str, origin: str = "", base: Path | None = None) -> Schema:
    """S as given to --schema: `{...}` is JSON, an existing file (relative to `base`) is
    read, anything else is the short form."""
    from llmcli.structured.shortform import parse_short

    text = spec.strip()
    if text.startswith(("{", "[")) or text in ("true", "false"):
        return checked(_parse_json(text, origin or "--schema"), origin or "inline")
    path = (base / text) if base is not None else Path(text)
    if "\n" not in text and _is_file(path):
        return schema_from_file(path)
    if text.endswith(".json"):
        raise UsageError(f"no such schema file: {text}")
    return checked(parse_short(spec), origin or "short form")


def schema_from_file(path: Path) -> Schema:
    from llmcli.inputs import read_file
    from llmcli.structured.shortform import parse_short

    try:
        text = read_file(path)
    except InputError as exc:
        raise UsageError(exc.message) from None
    if text.lstrip().startswith(("{", "[")) or path.suffix == ".json":
        return checked(_parse_json(text, str(path)), str(path))
    return checked(parse_short(text.strip()), str(path))


def checked(data: Any, origin: str) -> Schema:
    """The schema, once it is a valid JSON Schema the grammar can enforce and not void."""
    if isinstance(data, bool) or not isinstance(data, dict):
        raise UsageError(f"{origin}: a schema must be a JSON object, got {json.dumps(data)}")
    _check_meta(data, origin)
    for where, node in _walk(data, "schema"):
        _check_node(node, where, origin)
    return Schema(data, origin)


def validate_reply(text: str, schema: Schema) -> Any:
    """The reply parsed and validated; ReplyInvalid (exit 4) says why it is not."""
    import jsonschema

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        cut = " (cut short: raise --max-tokens)" if exc.pos >= len(text.rstrip()) else ""
        raise ReplyInvalid(f"the reply is not valid JSON: {exc.msg}{cut}", text) from None
    error = jsonschema.exceptions.best_match(_validator(schema).iter_errors(value))
    if error is not None:
        where = "".join(f"[{p!r}]" for p in error.absolute_path) or "the reply"
        raise ReplyInvalid(f"the reply does not match the schema: {where}: {error.message}", text)
    return value


# -- the checks -----------------------------------------------------------------------------


def _parse_json(text: str, origin: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{origin}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _validator(schema: Schema) -> Any:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema.data, default=jsonschema.Draft202012Validator)
    return cls(schema.data, format_checker=cls.FORMAT_CHECKER)


def _check_meta(data: dict[str, Any], origin: str) -> None:
    import jsonschema

    cls = jsonschema.validators.validator_for(data, default=jsonschema.Draft202012Validator)
    error = jsonschema.exceptions.best_match(cls(cls.META_SCHEMA).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the top"
        raise UsageError(f"{origin}: not a valid JSON Schema: at {where}: {error.message}")


def _walk(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema with a readable path to it."""
    if not isinstance(node, dict):
        return
    yield where, node
    for key in _SUBSCHEMA_MAPS:
        for name, sub in (node.get(key) or {}).items():
            yield from _walk(sub, f"{where}.{key}.{name}")
    for key in _SUBSCHEMA_LISTS:
        for i, sub in enumerate(node.get(key) or ()):
            yield from _walk(sub, f"{where}.{key}[{i}]")
    for key in ("items", "additionalProperties"):
        yield from _walk(node.get(key), f"{where}.{key}")


def _check_node(node: dict[str, Any], where: str, origin: str) -> None:
    unknown = sorted(set(node) - ENFORCED - ANNOTATIONS)
    if unknown:
        raise UsageError(
            f"{origin}: unsupported JSON Schema keyword {unknown[0]!r} at {where}",
            hint="the grammar cannot enforce it; supported: " + ", ".join(sorted(ENFORCED)),
        )
    fmt = node.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(
            f"{origin}: unsupported format {fmt!r} at {where}",
            hint="supported: " + ", ".join(sorted(FORMATS)) + "; or use a pattern",
        )
    reason = _void(node)
    if reason:
        raise UsageError(f"{origin}: no output can satisfy the schema at {where}: {reason}")


def _void(node: dict[str, Any]) -> str | None:
    """Why no value can match this subschema (the common cases), or None."""
    if "enum" in node and not node["enum"]:
        return "its enum is empty"
    for low, high in (("minItems", "maxItems"), ("minLength", "maxLength")):
        if low in node and high in node and node[low] > node[high]:
            return f"{low} {node[low]} is over {high} {node[high]}"
    allowed = node.get("properties") or {}
    extra = node.get("additionalProperties")
    if extra is not True and not isinstance(extra, dict):
        missing = [k for k in node.get("required") or () if k not in allowed]
        if missing:
            return f"required {missing[0]!r} is not among its properties"
    if any(v is False for v in allowed.values()):
        name = next(k for k, v in allowed.items() if v is False)
        if name in (node.get("required") or ()):
            return f"required {name!r} has the schema false"
    values = [node["const"]] if "const" in node else node.get("enum")
    if values:
        rest = {k: v for k, v in node.items() if k not in ("enum", "const")}
        if rest and not any(_matches(v, rest) for v in values):
            return "none of its enum/const values matches its other keywords"
    return None


def _matches(value: Any, schema: dict[str, Any]) -> bool:
    import jsonschema

    try:
        return bool(jsonschema.Draft202012Validator(schema).is_valid(value))
    except Exception:  # a $ref that only resolves from the root: leave it to the reply
        return True
