"""`llm run --schema/--grammar/--batch`, `chat --grammar` and template schemas, through
main() on the FakeEngine (which ignores constraints: the script decides what comes back)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from llmcli.engine import Message
from tests.conftest import Runner
from tests.fake_engine import FakeEngine

PERSON = '{"name": "Ana", "age": 31}'


def test_schema_reply_is_validated_json_on_stdout(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = [PERSON]
    result = llm("run", "--schema", "name, age int: in years", "Ana is 31.")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"name": "Ana", "age": 31}
    assert result.stdout.count("\n") == 1  # one line, for scripts and jq
    call = engine.calls[0]
    assert call.options.json_schema is not None
    assert call.options.json_schema["required"] == ["name", "age"]
    system = call.messages[0]
    assert system.role == "system" and '"age"' in system.content and "in years" in system.content
    assert call.user == "Ana is 31."


def test_schema_instruction_follows_the_system_prompt(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = [PERSON]
    llm("run", "-s", "You are precise.", "--schema", "name, age int", "Ana is 31.")
    system = engine.calls[0].messages[0].content
    assert system.startswith("You are precise.") and "JSON Schema" in system


def test_invalid_reply_exits_4_raw_text_on_stderr_nothing_on_stdout(
    llm: Runner, engine: FakeEngine
) -> None:
    engine.replies = ['{"name": "Ana", "age": "old"}']
    result = llm("run", "--schema", "name, age int", "Ana")
    assert result.exit_code == 4
    assert result.stdout == ""
    assert '{"name": "Ana", "age": "old"}' in result.stderr
    assert "does not match the schema: ['age']" in result.stderr.splitlines()[-1]


def test_reply_cut_by_max_tokens_says_so(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = ['{"name": "Ana Maria de Souza", "age": 31}']
    result = llm("run", "--schema", "name, age int", "--max-tokens", "3", "Ana")
    assert result.exit_code == 4 and result.stdout == ""
    assert "cut at 3 tokens" in result.stderr and "--max-tokens" in result.stderr


def test_json_envelope_has_data_and_text(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = [PERSON]
    result = llm("run", "--json", "--schema", "name, age int", "Ana")
    data = json.loads(result.stdout)
    assert data["data"] == {"name": "Ana", "age": 31} and data["text"] == PERSON
    assert data["template"] == "run" and "timings" in data


def test_terminal_shows_the_json(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = [PERSON]
    result = llm("run", "--schema", "name, age int", "Ana", tty=True)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"name": "Ana", "age": 31}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--schema", '{"type": "integer", "maximum": 3}'), "'maximum'"),
        (("--schema", '{"type": '), "not valid JSON"),
        (("--schema", '{"enum": []}'), "no output can satisfy"),
        (("--schema", "age integr"), "unknown type"),
        (("--schema", "a", "--grammar", "x.gbnf"), "not both"),
        (("--batch",), "needs --schema"),
        (("--schema", "a", "--field", "body"), "use it with --batch"),
        (("--grammar", "missing.gbnf"), "no such file"),
    ],
)
def test_bad_constraints_exit_2_before_any_model_loads(
    llm: Runner, args: Sequence[str], says: str
) -> None:
    result = llm("run", *args, "hi")
    assert result.exit_code == 2, result.stderr
    assert says in result.stderr and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert llm.loaded == []


def test_grammar_file_constrains_and_its_errors_have_the_line(
    llm: Runner, engine: FakeEngine, tmp_path: Path
) -> None:
    good = tmp_path / "yesno.gbnf"
    good.write_text('root ::= "yes" | "no"\n', encoding="utf-8")
    engine.replies = ["yes"]
    result = llm("run", "--grammar", str(good), "Is it?")
    assert result.exit_code == 0 and result.stdout == "yes\n"
    assert engine.calls[0].options.grammar == 'root ::= "yes" | "no"\n'
    bad = tmp_path / "bad.gbnf"
    bad.write_text('root ::= answer\nanswer ::= "yes" |\nanswer = "no"\n', encoding="utf-8")
    result = llm("run", "--grammar", str(bad), "Is it?")
    assert result.exit_code == 2
    assert f"{bad}:3:" in result.stderr
    assert len(llm.loaded) == 1  # the bad grammar stopped before a model loaded


def test_chat_grammar_holds_every_reply(llm: Runner, engine: FakeEngine, tmp_path: Path) -> None:
    grammar = tmp_path / "yesno.gbnf"
    grammar.write_text('root ::= "yes" | "no"\n', encoding="utf-8")
    engine.replies = ["yes", "no"]
    result = llm("chat", "--grammar", str(grammar), stdin="one\ntwo\n")
    assert result.exit_code == 0, result.stderr
    assert [c.options.grammar for c in engine.calls] == [grammar.read_text()] * 2


# -- batches --------------------------------------------------------------------------------


def _by_line(messages: Sequence[Message]) -> str:
    text = messages[-1].content
    return {"Ana is 31.": PERSON, "Bo is 7.": '{"name": "Bo", "age": 7}'}.get(text, '{"name": 1}')


def test_batch_one_json_line_per_input_line_in_order(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = [_by_line]
    stdin = "Ana is 31.\n\nBo is 7.\nnobody\n"
    result = llm("run", "--schema", "name, age int", "--batch", stdin=stdin)
    assert result.exit_code == 4
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows == [{"name": "Ana", "age": 31}, None, {"name": "Bo", "age": 7}, None]
    assert "line 2: the line is empty" in result.stderr
    assert "line 4: the reply does not match the schema" in result.stderr
    assert "could not extract 2 lines (lines 2, 4)" in result.stderr.splitlines()[-1]
    assert len(engine.calls) == 3  # the empty line costs no call
    first, second = engine.calls[0].messages, engine.calls[1].messages
    assert first[0] == second[0]  # the system prompt (with the schema): the cached prefix


def test_batch_json_and_field_read_jsonl(llm: Runner, engine: FakeEngine, tmp_path: Path) -> None:
    engine.replies = [_by_line]
    src = tmp_path / "in.jsonl"
    src.write_text('{"body": "Ana is 31."}\n{"other": 1}\nnot json\n', encoding="utf-8")
    args = ("run", "--schema", "name, age int", "--batch", "--field", "body", "--json")
    result = llm(*args, "-f", str(src))
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["line"] == 1 and rows[0]["data"] == {"name": "Ana", "age": 31}
    assert rows[1] == {"line": 2, "data": None, "error": "no text field 'body' in this JSON line"}
    assert rows[2]["data"] is None and "not valid JSON" in rows[2]["error"]
    assert result.exit_code == 4


def test_batch_all_good_exits_0_and_prompt_applies_to_each_line(
    llm: Runner, engine: FakeEngine
) -> None:
    engine.replies = [PERSON]
    result = llm("run", "--schema", "name, age int", "--batch", "Extract", stdin="a\nb\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [json.dumps(json.loads(PERSON))] * 2
    assert all(c.user.endswith("Extract") for c in engine.calls)


def test_batch_needs_input(llm: Runner) -> None:
    result = llm("run", "--schema", "a", "--batch")
    assert result.exit_code == 4 and "got neither" in result.stderr


# -- templates ------------------------------------------------------------------------------

INVOICE = """\
name = "invoice"
description = "Invoice fields"
user = "{{ input }}"
schema = "vendor, total float, currency EUR|USD"

[variables.input]
default = ""
"""


def test_template_schema_is_used_and_shown(llm: Runner, engine: FakeEngine, tmp_path: Path) -> None:
    path = tmp_path / "invoice.toml"
    path.write_text(INVOICE, encoding="utf-8")
    engine.replies = ['{"vendor": "Acme", "total": 12.5, "currency": "EUR"}']
    result = llm("run", "-t", str(path), stdin="Acme bills 12.50 EUR")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["currency"] == "EUR"
    assert engine.calls[0].options.json_schema is not None
    shown = json.loads(llm("templates", "show", str(path), "--json").stdout)
    assert shown["schema"]["properties"]["currency"]["enum"] == ["EUR", "USD"]
    assert 'schema = "vendor' in llm("templates", "show", str(path)).stdout


def test_template_schema_table_and_file_beside_it(llm: Runner, tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text('{"type": "object", "properties": {}}', encoding="utf-8")
    path = tmp_path / "t.toml"
    path.write_text('user = "{{ input }}"\nschema = "p.json"\n', encoding="utf-8")
    shown = json.loads(llm("templates", "show", str(path), "--json").stdout)
    assert shown["schema"] == {"type": "object", "properties": {}}
    path.write_text('user = "x"\n[schema]\ntype = "object"\nminProperties = 1\n', encoding="utf-8")
    result = llm("run", "-t", str(path))
    assert result.exit_code == 2 and "'minProperties'" in result.stderr
