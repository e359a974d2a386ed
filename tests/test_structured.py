"""The schema layer without a model: the short form, loading S, the checks, validation,
and the grammar text (llama.cpp parses GBNF without a model)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from llmcli.engine import GenerationOptions
from llmcli.engine import grammar as g
from llmcli.errors import ExitCode, UsageError
from llmcli.structured.schema import ReplyInvalid, checked, load_schema, validate_reply
from llmcli.structured.shortform import parse_short


def test_short_form_fields_types_descriptions_and_optional() -> None:
    schema = parse_short("name, age int: age in years, tags list, score float, ok bool, when date")
    props = schema["properties"]
    assert props["name"] == {"type": "string"}
    assert props["age"] == {"type": "integer", "description": "age in years"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["score"]["type"] == "number" and props["ok"]["type"] == "boolean"
    assert props["when"] == {"type": "string", "format": "date"}
    assert schema["required"] == ["name", "age", "tags", "score", "ok", "when"]
    assert schema["additionalProperties"] is False


def test_short_form_enums_typed_lists_optional_and_newlines() -> None:
    schema = parse_short("mood happy|sad\nids list[int]: the ids, in order, as given\nnote?")
    props = schema["properties"]
    assert props["mood"] == {"type": "string", "enum": ["happy", "sad"]}
    assert props["ids"] == {
        "type": "array",
        "items": {"type": "integer"},
        "description": "the ids, in order, as given",
    }
    assert "note" in props and schema["required"] == ["mood", "ids"]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("", "empty"),
        ("name, name", "twice"),
        ("age integr", "unknown type 'integr'"),
        ("a b c", "NAME [TYPE]"),
        ("1abc", "NAME [TYPE]"),
        ("x list[dict]", "list item type"),
        ("x a||b", "distinct"),
    ],
)
def test_short_form_errors_name_the_field(spec: str, says: str) -> None:
    with pytest.raises(UsageError, match=re.escape(says)) as info:
        parse_short(spec)
    assert info.value.exit_code == ExitCode.USAGE


def test_load_schema_inline_file_and_short_form(tmp_path: Path) -> None:
    inline = load_schema('{"type": "object", "properties": {"a": {"type": "integer"}}}')
    assert inline.data["properties"]["a"]["type"] == "integer"
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"type": "array", "items": {"type": "string"}}), encoding="utf-8")
    assert load_schema(str(path)).data["type"] == "array"
    assert load_schema(str(path)).origin == str(path)
    assert load_schema("name, age int").data["required"] == ["name", "age"]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ('{"type": "object",', "not valid JSON"),
        ('{"type": "strin"}', "not a valid JSON Schema"),
        ('{"type": "integer", "minimum": 0}', "unsupported JSON Schema keyword 'minimum'"),
        ('{"properties": {"a": {"not": {}}}}', "'not' at schema.properties.a"),
        ('{"type": "string", "format": "email"}', "unsupported format 'email'"),
        ('{"enum": []}', "enum is empty"),
        ('{"type": "array", "minItems": 3, "maxItems": 1}', "minItems 3 is over maxItems 1"),
        ('{"properties": {"a": {}}, "required": ["b"]}', "required 'b' is not among"),
        ('{"type": "integer", "enum": ["a", "b"]}', "none of its enum"),
        ("[1, 2]", "must be a JSON object"),
        ("missing.json", "no such schema file"),
    ],
)
def test_bad_schemas_are_one_usage_error(spec: str, says: str) -> None:
    with pytest.raises(UsageError, match=says.replace("[", r"\[")):
        load_schema(spec)


def test_validate_reply_parses_checks_and_says_why() -> None:
    schema = load_schema("name, age int, when date")
    good = '{"name": "Ana", "age": 3, "when": "2024-02-29"}'
    assert validate_reply(good, schema) == {"name": "Ana", "age": 3, "when": "2024-02-29"}
    with pytest.raises(ReplyInvalid, match=r"not valid JSON.*cut short") as info:
        validate_reply('{"name": "Ana", "age"', schema)
    assert info.value.raw == '{"name": "Ana", "age"' and info.value.exit_code == 4
    with pytest.raises(ReplyInvalid, match=r"\['age'\]: 'x' is not of type 'integer'"):
        validate_reply('{"name": "Ana", "age": "x", "when": "2024-01-01"}', schema)
    with pytest.raises(ReplyInvalid, match="is not a 'date'"):
        validate_reply('{"name": "Ana", "age": 1, "when": "2024-13-45"}', schema)


def test_checked_accepts_nested_refs_and_annotations() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "order",
        "type": "object",
        "$defs": {"item": {"type": "object", "properties": {"sku": {"type": "string"}}}},
        "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/item"}}},
    }
    assert checked(schema, "x").data is schema


# -- grammars (llama.cpp's parser, no model) -----------------------------------------------


def test_grammar_syntax_errors_have_the_line() -> None:
    with pytest.raises(g.GrammarError, match=r"^f.gbnf:2:3: expecting ::=") as info:
        g.check('root ::= "a" x\nx := "b"\n', "f.gbnf")
    assert info.value.exit_code == ExitCode.USAGE
    with pytest.raises(g.GrammarError, match=r"^f.gbnf:2: Undefined rule identifier 'y'"):
        g.check('root ::= "a"\nx ::= y\n', "f.gbnf")
    with pytest.raises(g.GrammarError, match="does not contain a 'root' symbol"):
        g.check('start ::= "a"\n', "f.gbnf")
    with pytest.raises(g.GrammarError, match="empty"):
        g.check("  \n", "f.gbnf")


def test_good_grammars_and_token_refs_pass_the_check() -> None:
    g.check('root ::= "yes" | "no"\n')
    g.check("root ::= <[1000]>\n")  # a token id: only the model's vocabulary can judge it
    for n in (1, 2, 8):
        g.check(g.numbered_rows(n))


def test_numbered_rows_grammar_has_exactly_n_rows() -> None:
    text = g.numbered_rows(3)
    assert '"[1] " line "\\n" "[2] " line "\\n" "[3] " line "\\n"?' in text
    assert "[4]" not in text


def test_schema_grammar_keeps_control_characters_out_of_strings() -> None:
    text = g.from_schema({"type": "object", "properties": {"a": {"type": "string"}}})
    char = next(ln for ln in text.splitlines() if ln.startswith("char ::= "))
    assert "\\x00-\\x1F" in char
    g.check(text)


def test_grammar_and_schema_together_are_refused() -> None:
    both = GenerationOptions(grammar='root ::= "a"', json_schema={"type": "string"})
    with pytest.raises(UsageError, match="not both"):
        g.grammar_text(both)
    assert g.grammar_text(GenerationOptions()) is None


def test_translate_lines_sends_the_rows_grammar_only_when_asked(tmp_path: Path) -> None:
    from tests.fake_engine import FakeEngine
    from tests.test_translate import make_translator

    engine = FakeEngine(replies=["[1] UM\n[2] DOIS"])
    translator = make_translator(engine, tmp_path)
    assert list(translator.lines("one\ntwo\n")) == ["UM", "DOIS"]
    assert engine.calls[0].options.grammar is None  # the default: measured better without
    translator = make_translator(engine, tmp_path)
    translator.constrain_lines = True
    assert list(translator.lines("one\ntwo\n")) == ["UM", "DOIS"]
    assert engine.calls[1].options.grammar == g.numbered_rows(2)
