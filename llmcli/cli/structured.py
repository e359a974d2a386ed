"""What `llm run` does with --schema, --grammar and --batch: check them before a model
loads, print a validated reply (stdout carries only the JSON), and run a batch of lines."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmcli.env import Environment
from llmcli.errors import InputError, UsageError
from llmcli.output import emit_json, json_envelope

if TYPE_CHECKING:
    from llmcli.engine import GenerationOptions, Message
    from llmcli.prompts import Template
    from llmcli.runtime import LoadedModel
    from llmcli.structured.schema import Schema
    from llmcli.tasks.extract import Extractor, LineResult


@dataclass(frozen=True)
class Shape:
    """What the reply is held to: a JSON Schema, a GBNF grammar, or nothing."""

    schema: Schema | None = None
    grammar: str | None = None

    def options(self, opts: GenerationOptions) -> GenerationOptions:
        if self.grammar is not None:
            return replace(opts, grammar=self.grammar)
        return opts  # a schema goes in through the Extractor


def shape(
    schema: str | None, grammar: Path | None, tmpl: Template, *, batch: bool, field: str | None
) -> Shape:
    """--schema (or the template's own), --grammar, checked now: exit 2 before any load."""
    from llmcli.structured.schema import Schema, load_schema

    if schema is not None and grammar is not None:
        raise UsageError("give either --schema or --grammar, not both")
    found = load_schema(schema) if schema is not None else None
    if found is None and tmpl.schema is not None and grammar is None:
        found = Schema(tmpl.schema, f"template {tmpl.name}")
    if field is not None and not batch:
        raise UsageError("--field reads JSONL lines: use it with --batch")
    if batch and found is None:
        raise UsageError(
            "--batch gives one JSON object per line: it needs --schema (or a template's schema)"
        )
    return Shape(found, read_grammar(grammar) if grammar is not None else None)


def read_grammar(path: Path) -> str:
    """A GBNF file, parsed by llama.cpp now: a syntax error is one line with its line number."""
    from llmcli.engine.grammar import check
    from llmcli.inputs import read_file

    try:
        text = read_file(path)
    except InputError as exc:
        raise UsageError(f"--grammar: {exc.message}") from None
    check(text, str(path))
    return text


# -- one reply ------------------------------------------------------------------------------


def show_one(
    env: Environment,
    loaded: LoadedModel,
    template: str,
    extractor: Extractor,
    messages: Sequence[Message],
    *,
    json_out: bool,
) -> None:
    """The validated JSON on stdout; an invalid reply goes to stderr whole, and exit 4."""
    from llmcli.structured.schema import ReplyInvalid

    try:
        done = extractor.extract(messages)
    except ReplyInvalid as exc:
        env.stderr.write(exc.raw + ("" if exc.raw.endswith("\n") else "\n"))
        raise
    if json_out:
        envelope = json_envelope(done.text, loaded, template, done.stats.as_dict(), data=None)
        emit_json(env, envelope | {"data": done.value})
    elif env.stdout_isatty:
        from rich.json import JSON

        from llmcli.output import make_console

        make_console(env).print(JSON(json.dumps(done.value, ensure_ascii=False)))
    else:
        emit_json(env, done.value)  # one line: the form scripts and jq read


# -- batches --------------------------------------------------------------------------------


def batch_lines(
    env: Environment, files: Sequence[Path] | None, field: str | None
) -> tuple[Iterator[str | InputError], int]:
    """The input lines (of the -f files, else stdin as it arrives) and their count if known."""
    from llmcli.inputs import read_file, split_lines, stdin_lines
    from llmcli.tasks.sentiment import jsonl_texts

    if files:
        lines: list[str | InputError] = [ln for p in files for ln in split_lines(read_file(p))]
        stream: Iterator[str | InputError] = iter(lines)
        total = len(lines)
    else:
        if env.stdin_isatty:
            raise InputError("--batch reads lines from -f FILE or stdin; got neither")
        stream, total = stdin_lines(env), 0
    return (jsonl_texts(stream, field) if field is not None else stream), total


def run_batch(
    env: Environment,
    extractor: Extractor,
    lines: Iterable[str | InputError],
    total: int,
    render: Callable[[str], list[Message]],
    *,
    json_out: bool,
) -> None:
    """One JSON line per input line, in order (`null` for a failed one, its reason on
    stderr); exit 4 at the end when any failed."""
    from llmcli.output.progress import TaskProgress

    with TaskProgress(env, bar=total > 0 and not env.stdout_isatty, unit="") as progress:
        failed = _write(env, extractor.extract_lines(lines, render, progress, total), json_out)
    if failed:
        shown = ", ".join(str(n) for n in failed[:5]) + (", ..." if len(failed) > 5 else "")
        which = "line" if len(failed) == 1 else "lines"
        raise InputError(f"could not extract {len(failed)} {which} ({which} {shown})")


def _write(env: Environment, results: Iterable[LineResult], json_out: bool) -> list[int]:
    failed: list[int] = []
    for result in results:
        if result.error is not None:
            failed.append(result.line)
            env.stderr.write(f"llm: error: line {result.line}: {result.error}\n")
            env.stderr.flush()
        emit_json(env, _line_json(result) if json_out else _value(result))
    return failed


def _value(result: LineResult) -> Any:
    return result.extraction.value if result.extraction is not None else None


def _line_json(result: LineResult) -> dict[str, Any]:
    if result.extraction is None:
        return {"line": result.line, "data": None, "error": result.error}
    stats = result.extraction.stats.as_dict()
    return {"line": result.line, "data": result.extraction.value, "timings": stats}
