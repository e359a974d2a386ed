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
    assert text.count('"[1] "') == text.count('"[2] "') == text.count('"[3] "') == 1
    assert text.index('"[1] "') < text.index('"[2] "') < text.index('"[3] "')
    assert "[4]" not in text
    assert text.endswith('"\\n"?')  # the last row may end the reply without a newline


def test_numbered_rows_grammar_holds_each_row_to_its_fewest_characters() -> None:
    text = g.numbered_rows(3, [12, 0])
    row1, row2 = text.split('"[2] "')[0], text.split('"[2] "')[1].split('"[3] "')[0]
    assert "{11,}" in row1  # the first character, then at least 11 more
    assert "{" not in row2  # 0 (and rows past the list): no floor
    g.check(text)  # llama.cpp's parser takes it


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


def test_translate_lines_holds_batches_to_rows_only_when_asked(tmp_path: Path) -> None:
    from tests.fake_engine import FakeEngine
    from tests.test_translate import make_translator

    engine = FakeEngine(replies=["[1] UM\n[2] DOIS"])
    translator = make_translator(engine, tmp_path, constrain=True)
    assert list(translator.lines("one line here\ntwo\n")) == ["UM", "DOIS"]
    assert engine.calls[0].options.grammar == g.numbered_rows(2, [7, 1], ["one", "two"])
    translator = make_translator(engine, tmp_path)  # the default: measured better without
    assert list(translator.lines("one\ntwo\n")) == ["UM", "DOIS"]
    assert engine.calls[1].options.grammar is None


def test_translate_lines_retranslates_only_the_rows_left_in_english(tmp_path: Path) -> None:
    from tests.fake_engine import FakeEngine
    from tests.test_translate import make_translator

    batch = "[1] O gato dorme.\n[2] Dogs run in the park.\n[3] A casa é azul."
    engine = FakeEngine(replies=[batch, "O cão corre no parque."])
    translator = make_translator(engine, tmp_path, constrain=True)
    english = "The cat sleeps.\nThe dog runs in the park.\nThe house is blue.\n"
    got = list(translator.lines(english))
    assert got == ["O gato dorme.", "O cão corre no parque.", "A casa é azul."]
    assert len(engine.calls) == 2  # the batch, then row 2 alone: fewer calls than lines
    assert engine.calls[1].options.grammar is None
    assert "The dog runs in the park." in engine.calls[1].messages[-1].content


def test_a_paraphrase_of_another_row_counts_as_untranslated() -> None:
    from llmcli.tasks.rows import untranslated as _untranslated

    batch = ["Feral children were raised by animals.", "Some lived in the wild alone."]
    assert _untranslated("Some children lived alone in the wild.", batch[1], batch)
    assert not _untranslated("Algumas crianças viveram sozinhas na natureza.", batch[1], batch)
    assert not _untranslated("Bom dia, Maria.", "Good morning, Maria.", ["Good morning, Maria."])
    assert not _untranslated("", batch[0], batch)


def test_a_row_glued_to_its_sources_first_word_counts_as_untranslated() -> None:
    from llmcli.tasks.rows import untranslated as _untranslated

    source = "Subcultures can be distinctive."
    assert _untranslated("Subculturescanbedistinctive.", source, [source])
    assert not _untranslated("Subculturas podem ser distintas.", source, [source])
    assert not _untranslated("A casa.", "A house.", ["A house."])  # one letter: no rule


def test_not_words_grammar_keeps_a_row_from_opening_with_the_word() -> None:
    rules = g.not_words("row", ["The", "x"], "rest")
    text = "root ::= row\nrest ::= [^\\r\\n]*\n" + "\n".join(rules)
    g.check(text)
    top = next(r for r in rules if r.startswith("row ::="))
    assert "[tT] row-0" in top  # "t" leads on into the trie...
    letters = top.split(" | ")[0].split("[", 1)[1].split("]", 1)[0]
    assert "T" not in letters and "t" not in letters and "S" in letters  # ...only there
    last = next(r for r in rules if r.startswith("row-0-0 ::="))  # after "th"
    assert "[eE] row-0-0-0" in last
    the = next(r for r in rules if r.startswith("row-0-0-0 ::="))
    assert the == "row-0-0-0 ::= [a-zA-Z\\u00C0-\\u024F] rest"  # "the" must go on: "then"
    assert g.not_words("row", ["Ünïcode", "2024"], "rest") == [
        "row ::= [a-zA-Z\\u00C0-\\u024F] rest | [^a-zA-Z\\u00C0-\\u024F \\t\\r\\n[] rest"
    ]  # non-ASCII words and numbers are not held off


def test_numbered_rows_keep_next_row_numbers_out_of_a_row() -> None:
    text = g.numbered_rows(2, [30, 0], ["Subcultures", ""])
    assert '"[" [^0-9' in text  # "[" only when no digit follows
    g.check(text)
