"""`llm translate` on the FakeEngine: languages, layout kept, line mode with batches and
retries, chunking, streaming, and bad input."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from llmcli.engine import GenerationOptions, Message
from llmcli.env import Environment
from llmcli.prompts import load_template
from llmcli.tasks.languages import resolve_language
from llmcli.tasks.translate import Translator
from tests.conftest import Runner
from tests.fake_engine import FakeEngine

_NUMBERED = re.compile(r"^\[(\d+)\] (.*)$")
_REQUEST = re.compile(r"^Translate [^:]*?(?:in)?to [A-Z][^:]*:\s*")


def source_of(messages: Sequence[Message]) -> str:
    """The text the prompt asks to translate (after 'Translate ... Portuguese:')."""
    return _REQUEST.sub("", messages[-1].content, count=1)


def upper(messages: Sequence[Message]) -> str:
    """A 'translation' anyone can check: the source in capitals, numbering kept."""
    return source_of(messages).upper()


def upper_lines_wrong_count(messages: Sequence[Message]) -> str:
    """Numbered batches of more than 2 lines lose their last line; single lines are fine."""
    rows = source_of(messages).split("\n")
    if _NUMBERED.match(rows[0]) and len(rows) > 2:
        rows = rows[:-1]
    return "\n".join(rows).upper()


@pytest.fixture
def upper_engine(engine: FakeEngine) -> FakeEngine:
    engine.replies = [upper]
    return engine


# -- languages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "tag", "name"),
    [
        ("pt", "pt", "Portuguese"),
        ("pt-BR", "pt-BR", "Portuguese (Brazil)"),
        ("Portuguese", "pt", "Portuguese"),
        ("português", "pt", "Portuguese"),
        ("portugues", "pt", "Portuguese"),
        ("Brazilian Portuguese", "pt-BR", "Portuguese (Brazil)"),
        ("por", "pt", "Portuguese"),
        ("Deutsch", "de", "German"),
        ("日本語", "ja", "Japanese"),
    ],
)
def test_languages_by_code_or_name(query: str, tag: str, name: str) -> None:
    lang = resolve_language(query)
    assert (lang.tag, lang.name) == (tag, name)


def test_target_language_reaches_the_prompt(llm: Runner, upper_engine: FakeEngine) -> None:
    result = llm("translate", "--to", "português", "--from", "en", "Good morning.")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "GOOD MORNING.\n"
    assert "from English to Portuguese" in upper_engine.calls[0].user
    assert upper_engine.calls[0].options.temperature == 0


def test_unknown_language_suggests_close_names(llm: Runner, engine: FakeEngine) -> None:
    result = llm("translate", "--to", "Portugueze", "hello")
    assert result.exit_code == 2
    assert "unknown language 'Portugueze'" in result.stderr and "Portuguese (pt)" in result.stderr
    assert result.stderr.count("\n") == 1 and engine.calls == []


def test_missing_to_is_exit_2(llm: Runner) -> None:
    result = llm("translate", "hello")
    assert result.exit_code == 2 and "--to is required" in result.stderr


# -- layout ---------------------------------------------------------------------------------

DOC = """# Release notes

The new version is **faster** and uses less memory.
It also fixes `llm --help`.

- first item
  - nested item
1. numbered step

> a quoted line

```sh
make install   # code is not translated
```


Last paragraph, after two blank lines.
"""


def test_document_keeps_paragraphs_lists_code_and_blank_lines(
    llm: Runner, upper_engine: FakeEngine
) -> None:
    result = llm("translate", "--to", "pt", stdin=DOC)
    assert result.exit_code == 0, result.stderr
    expected = (
        DOC.upper()
        .replace(
            "MAKE INSTALL   # CODE IS NOT TRANSLATED", "make install   # code is not translated"
        )
        .replace("```SH", "```sh")
    )
    assert result.stdout == expected
    sent = [source_of(c.messages) for c in upper_engine.calls]
    assert "[1] first item\n[2] nested item\n[3] numbered step" in sent  # markers stay ours
    assert not any("make install" in s for s in sent)
    assert not any(s.strip() != s for s in sent)  # edges never go to the model


def test_translation_chatter_is_removed(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = ['Translation: "Bom dia a todos."\n\nNote: formal register.']
    result = llm("translate", "--to", "pt", "Good morning, everyone.")
    assert result.stdout == "Bom dia a todos.\n"


def test_prose_goes_sentence_by_sentence(llm: Runner, upper_engine: FakeEngine) -> None:
    text = 'He said "go." Then she left!  Why?\nNobody knows.'
    result = llm("translate", "--to", "pt", text)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == text.upper() + "\n"  # the spaces and line break between kept
    sent = [source_of(c.messages) for c in upper_engine.calls]
    assert sent == ['He said "go."', "Then she left!", "Why?", "Nobody knows."]


def test_unit_paragraph_sends_the_whole_paragraph(llm: Runner, upper_engine: FakeEngine) -> None:
    result = llm("translate", "--to", "pt", "--unit", "paragraph", "One. Two.\n\nThree.")
    assert result.stdout == "ONE. TWO.\n\nTHREE.\n"
    assert [source_of(c.messages) for c in upper_engine.calls] == ["One. Two.", "Three."]


def test_unknown_unit_is_exit_2(llm: Runner) -> None:
    result = llm("translate", "--to", "pt", "--unit", "word", "Hello.")
    assert result.exit_code == 2
    assert "--unit must be one of sentence, paragraph" in result.stderr


def test_long_paragraph_is_chunked_at_sentences(engine: FakeEngine, tmp_path: Path) -> None:
    engine.n_ctx = 512
    engine.replies = [upper]
    sentences = [f"Sentence number {i} has these words in it." for i in range(200)]
    text = " ".join(sentences)
    job = make_translator(engine, tmp_path, unit="paragraph")
    out = "".join(job.document(text))
    assert out == text.upper()
    assert 5 < len(engine.calls) < 50  # several sentences per call, not one each
    for call in engine.calls:
        assert source_of(call.messages).endswith("in it.")  # cut at sentence ends
        assert call.options.max_tokens is not None
        assert engine.count_prompt_tokens(call.messages) + call.options.max_tokens <= 512


def test_output_streams_as_pieces_finish(engine: FakeEngine, tmp_path: Path) -> None:
    engine.replies = [upper]
    job = make_translator(engine, tmp_path)
    pieces = job.document("First paragraph.\n\nSecond paragraph.\n")
    seen = []
    for piece in pieces:
        seen.append((piece, len(engine.calls)))
    assert ("FIRST PARAGRAPH.", 1) in seen  # yielded before the second call was made
    assert "".join(p for p, _ in seen) == "FIRST PARAGRAPH.\n\nSECOND PARAGRAPH.\n"


def make_translator(
    engine: FakeEngine,
    tmp_path: Path,
    batch: int = 8,
    unit: str = "sentence",
    constrain: bool = False,  # the rows grammar path: tests in test_structured
) -> Translator:
    env = Environment(environ={}, config_dir=tmp_path)
    return Translator(
        engine,
        load_template("translate", env),
        load_template("translate-lines", env),
        resolve_language("pt"),
        None,
        GenerationOptions(temperature=0),
        batch=batch,
        unit=unit,
        constrain_lines=constrain,
    )


# -- --lines --------------------------------------------------------------------------------


def test_lines_keep_count_blank_lines_and_order(llm: Runner, upper_engine: FakeEngine) -> None:
    text = "one\n\ntwo\n   \nthree\n42\n"
    result = llm("translate", "--to", "pt", "--lines", stdin=text)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "ONE\n\nTWO\n   \nTHREE\n42\n"
    assert len(upper_engine.calls) == 1  # one batch; blank and number-only lines skip the model
    assert source_of(upper_engine.calls[0].messages) == "[1] one\n[2] two\n[3] three"


def test_lines_batches_by_size(llm: Runner, upper_engine: FakeEngine) -> None:
    text = "\n".join(f"line {i}" for i in range(10))
    result = llm("translate", "--to", "pt", "--lines", "--batch", "4", stdin=text)
    assert result.stdout.splitlines() == [f"LINE {i}" for i in range(10)]
    sizes = [source_of(c.messages).count("\n") + 1 for c in upper_engine.calls]
    assert sizes == [4, 4, 2]


def test_wrong_count_splits_the_batch_and_retries(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = [upper_lines_wrong_count]
    text = "\n".join(f"line {i}" for i in range(4))
    result = llm("translate", "--to", "pt", "--lines", "--batch", "4", stdin=text)
    assert result.stdout.splitlines() == ["LINE 0", "LINE 1", "LINE 2", "LINE 3"]
    sizes = [source_of(c.messages).count("\n") + 1 for c in engine.calls]
    assert sizes == [4, 2, 2]  # 4 came back as 3: split into halves, which come back right


def test_batches_stay_smaller_after_a_failure(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = [upper_lines_wrong_count]
    text = "\n".join(f"line {i}" for i in range(8))
    llm("translate", "--to", "pt", "--lines", "--batch", "4", stdin=text)
    sizes = [source_of(c.messages).count("\n") + 1 for c in engine.calls]
    assert sizes == [4, 2, 2, 2, 2]  # after the failure, batches of 2 come back right


def never_numbers(messages: Sequence[Message]) -> str:
    """A model that cannot number lines back: chatter for a batch, a translation for one line."""
    src = source_of(messages)
    return "chatter" if src.startswith("[") else src.upper()


def test_a_model_that_never_numbers_goes_line_by_line_quickly(
    llm: Runner, engine: FakeEngine
) -> None:
    engine.replies = [never_numbers]
    text = "\n".join(f"line {i}" for i in range(16))
    result = llm("translate", "--to", "pt", "--lines", "--batch", "8", stdin=text)
    assert result.stdout.splitlines() == [f"LINE {i}" for i in range(16)]
    sizes = [source_of(c.messages).count("\n") + 1 for c in engine.calls]
    assert sizes == [8, 4, 2] + [1] * 16  # halving stops at one; later lines skip batching


def test_the_batch_size_a_model_managed_is_remembered(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = [never_numbers]
    text = "\n".join(f"line {i}" for i in range(8))

    def sizes() -> list[int]:
        out = [source_of(c.messages).count("\n") + 1 for c in engine.calls]
        engine.calls.clear()
        return out

    assert llm("translate", "--to", "pt", "--lines", stdin=text).exit_code == 0
    assert sizes() == [8, 4, 2] + [1] * 8
    again = llm("translate", "--to", "pt", "--lines", stdin=text)
    assert again.exit_code == 0, again.stderr
    assert again.stdout.splitlines() == [f"LINE {i}" for i in range(8)]
    assert sizes() == [1] * 8  # the next run of a script starts where the last one ended
    assert llm("translate", "--to", "pt", "--lines", "--batch", "8", stdin=text).exit_code == 0
    assert sizes()[:3] == [8, 4, 2]  # an explicit --batch tries again


def test_a_batch_that_loses_its_numbering_stops_at_that_row(
    llm: Runner, engine: FakeEngine
) -> None:
    def chatter_then_rows(messages: Sequence[Message]) -> str:
        src = source_of(messages)
        if src.startswith("["):
            return "Sure, here they are:\n" + "[1] one\n" * 50  # would run to the cap
        return src.upper()

    engine.replies = [chatter_then_rows]
    engine.interrupt_after = 12  # a Ctrl-C if any call streams past its first rows
    text = "line a\nline b\n"
    result = llm("translate", "--to", "pt", "--lines", "--batch", "2", stdin=text)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "LINE A\nLINE B\n"


def test_echoed_batch_is_retried_line_by_line(llm: Runner, engine: FakeEngine) -> None:
    def echo_batches(messages: Sequence[Message]) -> str:
        src = source_of(messages)
        return src if src.startswith("[") else src.upper()

    engine.replies = [echo_batches]
    text = "the first line here\nthe second line here\n"
    result = llm("translate", "--to", "pt", "--lines", stdin=text)
    assert result.stdout == text.upper()
    assert len(engine.calls) == 3  # the batch, then each line alone


def test_untranslatable_line_is_reported_and_kept(llm: Runner, engine: FakeEngine) -> None:
    def refuse_beta(messages: Sequence[Message]) -> str:
        src = source_of(messages)
        return "" if src == "beta" or src.startswith("[") else src.upper()

    engine.replies = [refuse_beta]
    result = llm("translate", "--to", "pt", "--lines", stdin="alpha\nbeta\ngamma\n")
    assert result.exit_code == 0
    assert result.stdout == "ALPHA\nbeta\nGAMMA\n"
    assert "line 2: could not be translated; kept the original" in result.stderr


def test_multi_line_reply_for_one_line_is_joined(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = ["Bom dia.\nComo vai?"]
    result = llm("translate", "--to", "pt", "--lines", "--batch", "1", stdin="Hello, how are you?")
    assert result.stdout == "Bom dia. Como vai?\n"


def test_lines_json_has_one_entry_per_line(llm: Runner, upper_engine: FakeEngine) -> None:
    result = llm(
        "translate", "--to", "pt-BR", "--from", "en", "--lines", "--json", stdin="a b\n\nc\n"
    )
    data = json.loads(result.stdout)
    assert data["lines"] == ["A B", "", "C"]
    assert data["text"] == "A B\n\nC"
    assert (data["source_language"], data["target_language"]) == ("en", "pt-BR")
    assert data["input_tokens"] > 0 and data["output_tokens"] > 0
    assert data["timings"]["calls"] == 1 and data["warnings"] == []


# -- input ----------------------------------------------------------------------------------


def test_file_argument_and_dash_f(llm: Runner, upper_engine: FakeEngine, tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("Hello file.\n")
    assert llm("translate", "--to", "pt", str(doc)).stdout == "HELLO FILE.\n"
    assert llm("translate", "--to", "pt", "-f", str(doc)).stdout == "HELLO FILE.\n"


def test_several_words_are_one_text(llm: Runner, upper_engine: FakeEngine) -> None:
    assert llm("translate", "--to", "pt", "Good", "morning").stdout == "GOOD MORNING\n"


def test_missing_file_like_argument_is_exit_4(llm: Runner) -> None:
    result = llm("translate", "--to", "pt", "notes.txt")
    assert result.exit_code == 4 and "no such file: notes.txt" in result.stderr


def test_argument_too_long_for_a_file_name_is_text(llm: Runner, upper_engine: FakeEngine) -> None:
    """It used to crash on `OSError: File name too long` while asking whether it is a file."""
    text = "word " * 60
    result = llm("translate", "--to", "pt", text.strip())
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == text.strip().upper()


def test_empty_input_is_exit_4(llm: Runner, engine: FakeEngine) -> None:
    result = llm("translate", "--to", "pt", stdin="\n \n")
    assert result.exit_code == 4 and "nothing to translate" in result.stderr
    assert engine.calls == []


def test_binary_input_is_exit_4(llm: Runner) -> None:
    result = llm("translate", "--to", "pt", stdin=b"\x00\x01\x02binary")
    assert result.exit_code == 4 and "binary" in result.stderr


def test_unknown_template_and_parameter_are_exit_2(llm: Runner) -> None:
    assert llm("translate", "--to", "pt", "-t", "nope", "hi").exit_code == 2
    result = llm("translate", "--to", "pt", "-p", "tone=formal", "hi")
    assert result.exit_code == 2 and "no parameter 'tone'" in result.stderr


def test_template_with_a_jinja_error_is_exit_2(llm: Runner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'user = """\nInto {{ target }}:\n{% for %}\n{{ text }}\n"""\n'
        "[variables.text]\n[variables.target]\n"
    )
    result = llm("translate", "--to", "pt", "-t", str(bad), "hi")
    assert result.exit_code == 2 and f"{bad}:3" in result.stderr


def test_user_template_override_is_used(llm: Runner, engine: FakeEngine, tmp_path: Path) -> None:
    own = tmp_path / "config" / "templates"
    own.mkdir(parents=True)
    (own / "translate.toml").write_text(
        'user = "[{{ tone }}] {{ target }}: {{ text }}"\n[variables.text]\n[variables.target]\n'
        '[variables.tone]\ndefault = "neutral"\n'
    )
    llm("translate", "--to", "fr", "-p", "tone=formal", "Hello")
    assert engine.calls[0].user == "[formal] French: Hello"
