"""Replies held to a JSON Schema: the schema goes into the prompt (its wording is data,
`prompts/fragments/schema.toml`) and into the sampling (the engine's grammar, or a server's
`response_format`); the reply is validated before anyone sees it.

Batches run one input line per call. In-process, llama.cpp keeps the KV cache of the prefix
a call shares with the one before (system prompt, schema, turn opener), so each line costs
only its own tokens.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from llmcli.engine import Engine, GenerationOptions, Message, Stats, check_fits, generate
from llmcli.errors import InputError
from llmcli.structured.schema import ReplyInvalid, Schema, validate_reply
from llmcli.tasks import Progress, ProgressFn, no_progress

Render = Callable[[str], list[Message]]  # one input line -> the template's messages


@dataclass(frozen=True)
class Extraction:
    value: Any  # the reply, parsed and valid
    text: str  # the reply as the model wrote it
    stats: Stats


@dataclass(frozen=True)
class LineResult:
    line: int
    extraction: Extraction | None = None
    error: str | None = None


@dataclass
class Extractor:
    engine: Engine
    schema: Schema
    options: GenerationOptions
    calls: list[Stats] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.options = replace(self.options, json_schema=self.schema.data, grammar=None)
        self._instruction: str | None = None

    def messages(self, base: Sequence[Message]) -> list[Message]:
        """The template's messages with the schema's instruction in the system prompt."""
        head = base[0].content if base and base[0].role == "system" else ""
        rest = list(base[1:] if head else base)
        return [Message("system", self.instruction(head)), *rest]

    def instruction(self, system: str) -> str:
        from llmcli.prompts import render_fragment

        values = {"system": system, "schema": self.schema.as_text(indent=2)}
        return render_fragment("schema", "system", {**values, "fields": fields(self.schema)})

    def extract(self, base: Sequence[Message]) -> Extraction:
        """One reply, valid; ReplyInvalid (exit 4, with the raw text) when it is not."""
        messages = self.messages(base)
        check_fits(self.engine, messages, self.options)
        done = generate(self.engine, messages, self.options)
        self.calls.append(done.stats)
        try:
            value = validate_reply(done.text, self.schema)
        except ReplyInvalid as exc:
            if done.stats.finish_reason == "length":
                cut = f"the reply was cut at {done.stats.generated_tokens} tokens"
                raise ReplyInvalid(f"{exc.message} ({cut}: raise --max-tokens)", exc.raw) from None
            raise
        return Extraction(value, done.text, done.stats)

    def extract_lines(
        self,
        lines: Iterable[str | InputError],
        render: Render,
        progress: ProgressFn = no_progress,
        total: int = 0,
    ) -> Iterator[LineResult]:
        """One result per input line, in order; a line that fails (empty, bad JSON, too
        long, a reply that does not validate) is reported as its error and the rest go on."""
        for number, line in enumerate(lines, 1):
            yield self._one_line(number, line, render)
            progress(Progress("extracting", number, total))

    def _one_line(self, number: int, line: str | InputError, render: Render) -> LineResult:
        if isinstance(line, InputError):
            return LineResult(number, error=line.message)
        if not line.strip():
            return LineResult(number, error="the line is empty")
        try:
            return LineResult(number, self.extract(render(line)))
        except ReplyInvalid as exc:
            return LineResult(number, error=f"{exc.message}; the reply was {_preview(exc.raw)}")
        except InputError as exc:  # too long for the context: this line only
            return LineResult(number, error=exc.message)


def fields(schema: Schema) -> list[dict[str, Any]]:
    """The top-level fields of an object schema, for the prompt's list (empty otherwise)."""
    props = schema.data.get("properties")
    if not isinstance(props, dict):
        return []
    required = set(schema.data.get("required") or ())
    return [
        {
            "name": name,
            "type": _type_name(prop),
            "required": name in required,
            "description": prop.get("description", "") if isinstance(prop, dict) else "",
        }
        for name, prop in props.items()
    ]


def _type_name(prop: Any) -> str:
    if not isinstance(prop, dict):
        return "any"
    if "enum" in prop:
        return "one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v in prop["enum"])
    kind = prop.get("type", "any")
    if kind == "array" and isinstance(prop.get("items"), dict):
        return f"list of {_type_name(prop['items'])}"
    if prop.get("format"):
        return f"{kind}, {prop['format']}"
    return str(kind) if not isinstance(kind, list) else " or ".join(map(str, kind))


def _preview(raw: str, limit: int = 200) -> str:
    text = json.dumps(raw, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 4] + '..."'
