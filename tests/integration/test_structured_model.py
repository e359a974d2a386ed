"""`llm run --schema/--grammar/--batch` on the bundled model through real llama.cpp: the
reply is JSON that validates against the schema (shape only, never the wording)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from llmcli.structured.shortform import parse_short
from tests.integration.conftest import RunLlm

NESTED = {
    "type": "object",
    "properties": {
        "person": {
            "type": "object",
            "properties": {
                "first": {"type": "string", "maxLength": 40},
                "last": {"type": "string", "maxLength": 40},
            },
            "required": ["first", "last"],
        },
        "languages": {
            "type": "array",
            "items": {"type": "string", "maxLength": 30},
            "maxItems": 5,
        },
    },
    "required": ["person", "languages"],
}
CASES: list[tuple[str, Any, str]] = [
    ("names", "name, age int, city", "Maria Lopez is 29 and lives in Madrid."),
    ("dates", "event, date date", "The concert takes place on 2025-07-14 in Lyon."),
    ("numbers and lists", "items list, total float", "I bought apples and milk for 12.40 euros."),
    ("enums", "sentiment positive|negative|neutral", "I love this phone, it is great."),
    ("nested objects", NESTED, "John Smith speaks English, French and German."),
]


@pytest.mark.parametrize(("schema", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_schema_gives_valid_json(run_llm: RunLlm, schema: Any, text: str) -> None:
    spec = schema if isinstance(schema, str) else json.dumps(schema)
    proc = run_llm("run", "--temperature", "0", "--max-tokens", "200", "--schema", spec, text)
    assert proc.returncode == 0, proc.stderr
    value = json.loads(proc.stdout)
    full = parse_short(schema) if isinstance(schema, str) else schema
    jsonschema.validate(value, full, format_checker=jsonschema.FormatChecker())
    assert proc.stdout.count("\n") == 1 and proc.stderr == ""


def test_batch_gives_one_valid_line_per_input_line(run_llm: RunLlm) -> None:
    lines = ["Bob Smith is 42 and lives in Paris.", "", "Ana Costa, 35, from Porto."]
    proc = run_llm(
        "run", "--temperature", "0", "--max-tokens", "120", "--schema", "name, age int, city",
        "--batch", "--json", stdin="\n".join(lines) + "\n",
    )  # fmt: skip
    assert proc.returncode == 4  # the empty line
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3]
    assert rows[1]["data"] is None and "empty" in rows[1]["error"]
    schema = parse_short("name, age int, city")
    for row in (rows[0], rows[2]):
        jsonschema.validate(row["data"], schema)
    assert "line 2: the line is empty" in proc.stderr


def test_grammar_file_holds_the_reply(run_llm: RunLlm, tmp_path: Path) -> None:
    grammar = tmp_path / "yesno.gbnf"
    grammar.write_text('root ::= "yes" | "no"\n', encoding="utf-8")
    proc = run_llm("run", "--grammar", str(grammar), "Is Lisbon in Portugal?")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() in ("yes", "no")


def test_reply_cut_by_max_tokens_exits_4_with_nothing_on_stdout(run_llm: RunLlm) -> None:
    proc = run_llm("run", "--max-tokens", "4", "--schema", "name, city", "Bob lives in Paris.")
    assert proc.returncode == 4
    assert proc.stdout == ""
    assert "cut at 4 tokens" in proc.stderr.splitlines()[-1]


def test_bad_grammar_is_one_line_with_its_line_number(run_llm: RunLlm, tmp_path: Path) -> None:
    grammar = tmp_path / "bad.gbnf"
    grammar.write_text('root ::= answer\nanswer = "yes"\n', encoding="utf-8")
    proc = run_llm("run", "--grammar", str(grammar), "hi")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"llm: error: {grammar}:2:8: expecting ::= (near '= \"yes\"')"
