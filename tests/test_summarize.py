"""`llm summarize` on the FakeEngine: one call when it fits, map-reduce when it does not."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from llmcli.engine import GenerationOptions, Message
from llmcli.env import Environment
from llmcli.prompts import load_template
from llmcli.tasks import Progress
from llmcli.tasks.summarize import summarize
from tests.conftest import Runner
from tests.fake_engine import FakeEngine


def numbered_words(n: int, per_paragraph: int = 50) -> str:
    words = [f"w{i}" for i in range(n)]
    paragraphs = [" ".join(words[i : i + per_paragraph]) + "." for i in range(0, n, per_paragraph)]
    return "\n\n".join(paragraphs) + "\n"


def seen_words(engine: FakeEngine) -> set[str]:
    return {w for call in engine.calls for w in re.findall(r"\bw\d+\b", call.user)}


def test_short_input_is_one_call_and_prints_only_the_summary(
    llm: Runner, engine: FakeEngine
) -> None:
    engine.replies = ["Here is a summary of the text:\n\nThe council approved the library."]
    result = llm("summarize", stdin="The council voted to build a library. " * 5)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "The council approved the library.\n"
    assert len(engine.calls) == 1 and engine.closed
    assert engine.calls[0].options.temperature == 0
    assert result.stderr == ""


def test_files_as_arguments(llm: Runner, engine: FakeEngine, tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("First file text.")
    b.write_text("Second file text.")
    assert llm("summarize", str(a), str(b)).exit_code == 0
    assert "First file text.\n\nSecond file text." in engine.calls[0].user


def test_options_reach_the_prompt(llm: Runner, engine: FakeEngine) -> None:
    llm("summarize", "--length", "short", "--format", "bullets", "--lang", "pt", stdin="Text.")
    user = engine.calls[0].user
    assert "one or two sentences" in user and "bullet points" in user
    assert "summary in one or two sentences as a list of bullet points" in user
    assert user.rstrip().endswith("in Portuguese.")
    assert engine.calls[0].options.max_tokens == 120
    llm("summarize", "--words", "50", stdin="Text.")
    assert "about 50 words" in engine.calls[-1].user
    assert engine.calls[-1].options.max_tokens == 148


def test_json_has_text_counts_and_timings(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = ["Short summary."]
    result = llm("summarize", "--json", "--lang", "português", stdin="Some words to read.")
    data = json.loads(result.stdout)
    assert data["text"] == "Short summary."
    assert data["model"] == "smollm2" and data["template"] == "summarize"
    assert data["language"] == "pt"
    assert data["input_tokens"] == 4 and data["output_tokens"] == 2
    assert (data["parts"], data["rounds"]) == (1, 0)
    assert data["timings"]["calls"] == 1 and data["timings"]["generated_tokens"] == 2


def test_map_reduce_reads_every_word(llm: Runner, engine: FakeEngine) -> None:
    engine.n_ctx = 512
    engine.replies = ["A partial summary of this part."]
    text = numbered_words(5000)  # ~10x the context
    result = llm("summarize", "--json", stdin=text)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["parts"] > 10 and data["rounds"] == 1
    assert seen_words(engine) == {f"w{i}" for i in range(5000)}  # no truncation
    map_calls = engine.calls[:-1]
    assert len(map_calls) == data["parts"]
    assert all(engine.count_prompt_tokens(c.messages) <= 512 for c in engine.calls)
    assert "part 1 of" in map_calls[0].user and "consecutive parts" in engine.calls[-1].user
    assert data["timings"]["calls"] == len(engine.calls)


def test_reduce_repeats_until_the_summaries_fit(engine: FakeEngine, tmp_path: Path) -> None:
    engine.n_ctx = 512
    engine.replies = [" ".join(["summary"] * 60) + "."]  # long partial summaries
    env = Environment(environ={}, config_dir=tmp_path)
    events: list[Progress] = []
    result = summarize(
        engine,
        numbered_words(20000),
        template=load_template("summarize", env),
        combine=load_template("summarize-combine", env),
        values={"length": "medium"},
        options=GenerationOptions(temperature=0, max_tokens=100),
        progress=events.append,
    )
    assert result.rounds >= 2
    assert seen_words(engine) == {f"w{i}" for i in range(20000)}
    rounds = sorted({p.round for p in events})
    assert rounds == list(range(1, result.rounds + 2))
    first = [p for p in events if p.round == 1]
    assert first[0] == Progress("summarizing parts", 0, result.parts, 1)
    assert first[-1] == Progress("summarizing parts", result.parts, result.parts, 1)
    assert events[-1].stage == "combining summaries" and events[-1].done == events[-1].total
    assert all(engine.count_prompt_tokens(c.messages) <= 512 for c in engine.calls)


def test_two_hundred_thousand_words(engine: FakeEngine, tmp_path: Path) -> None:
    engine.n_ctx = 4096
    engine.replies = ["A partial summary that is a little longer than a line of text."]
    env = Environment(environ={}, config_dir=tmp_path)
    result = summarize(
        engine,
        numbered_words(200_000, per_paragraph=120),
        template=load_template("summarize", env),
        combine=load_template("summarize-combine", env),
        values={},
        options=GenerationOptions(temperature=0, max_tokens=256),
    )
    assert result.input_tokens > 200_000
    assert result.parts > 50 and result.rounds >= 1
    assert len(result.calls) > result.parts
    assert result.text == "A partial summary that is a little longer than a line of text."


def test_map_reduce_notice_in_a_pipe(llm: Runner, engine: FakeEngine) -> None:
    engine.n_ctx = 512
    result = llm("summarize", stdin=numbered_words(3000))
    assert result.exit_code == 0
    assert re.search(r"llm: summarizing parts: \d+ parts", result.stderr)
    assert "\x1b" not in result.stdout and "\x1b" not in result.stderr


def test_summary_cut_by_the_token_limit_ends_at_a_sentence(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = ["One sentence here. Two sentences here. And a third that goes on and on"]
    result = llm("summarize", "--max-tokens", "12", stdin="Some text to summarize.")
    assert result.exit_code == 0
    assert result.stdout == "One sentence here. Two sentences here.\n"
    assert "token limit" in result.stderr


def test_preamble_variants_are_stripped(llm: Runner, engine: FakeEngine) -> None:
    def reply(_: Sequence[Message]) -> str:
        return "Sure!\nHere's a concise summary:\n**Summary:** The plan passed.\n\nNote: brief."

    engine.replies = [reply]
    assert llm("summarize", stdin="The plan passed 7 to 2.").stdout == "The plan passed.\n"


def test_terminal_output_is_rendered(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = ["- **first** point\n- second point"]
    result = llm("summarize", "--format", "bullets", stdin="Text.", tty=True)
    assert result.exit_code == 0
    assert "**" not in result.stdout and "first" in result.stdout


# -- bad input -------------------------------------------------------------------------------


def test_empty_input_is_exit_4(llm: Runner, engine: FakeEngine) -> None:
    result = llm("summarize", stdin="  \n\n ")
    assert result.exit_code == 4
    assert "nothing to summarize" in result.stderr and result.stderr.count("\n") == 1
    assert engine.calls == []


def test_no_input_on_a_terminal_is_exit_4(llm: Runner) -> None:
    assert llm("summarize").exit_code == 4


def test_binary_input_is_exit_4(llm: Runner) -> None:
    result = llm("summarize", stdin=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert result.exit_code == 4 and "binary" in result.stderr


def test_missing_file_is_exit_4(llm: Runner, tmp_path: Path) -> None:
    result = llm("summarize", str(tmp_path / "missing.txt"))
    assert result.exit_code == 4 and "no such file" in result.stderr


def test_file_name_too_long_is_one_line_exit_4(llm: Runner) -> None:
    result = llm("summarize", "a" * 300)
    assert result.exit_code == 4 and "File name too long" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_unknown_template_is_exit_2(llm: Runner) -> None:
    result = llm("summarize", "-t", "sumary", stdin="text")
    assert result.exit_code == 2 and "unknown template 'sumary'" in result.stderr


def test_unknown_parameter_is_exit_2(llm: Runner, engine: FakeEngine) -> None:
    result = llm("summarize", "-p", "tone=dry", stdin="text")
    assert result.exit_code == 2 and "no parameter 'tone'" in result.stderr
    assert engine.calls == []


def test_bad_length_and_words_are_exit_2(llm: Runner) -> None:
    assert llm("summarize", "--length", "huge", stdin="text").exit_code == 2
    assert llm("summarize", "--words", "0", stdin="text").exit_code == 2


def test_unknown_language_is_exit_2(llm: Runner) -> None:
    result = llm("summarize", "--lang", "Portugueze", stdin="text")
    assert result.exit_code == 2 and "Portuguese (pt)" in result.stderr


def test_template_with_a_jinja_error_is_exit_2_with_file_and_line(
    llm: Runner, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "bad"\nuser = """\nSummarize:\n{{ text | nosuchfilter }}\n"""\n'
        "[variables.text]\nrequired = true\n"
    )
    result = llm("summarize", "-t", str(bad), stdin="text")
    assert result.exit_code == 2
    assert f"{bad}:" in result.stderr and "nosuchfilter" in result.stderr
    assert "Traceback" not in result.stderr


def test_template_without_text_variable_is_exit_2(llm: Runner, tmp_path: Path) -> None:
    bad = tmp_path / "notext.toml"
    bad.write_text('user = "Summarize {{ input }}"\n[variables.input]\ndefault = ""\n')
    result = llm("summarize", "-t", str(bad), stdin="text")
    assert result.exit_code == 2 and "no 'text' variable" in result.stderr


def test_user_template_with_extra_parameter(
    llm: Runner, engine: FakeEngine, tmp_path: Path
) -> None:
    own = tmp_path / "kids.toml"
    own.write_text(
        'user = "For {{ audience }}: {{ text }}"\n[variables.text]\nrequired = true\n'
        '[variables.audience]\ndefault = "adults"\n'
    )
    result = llm("summarize", "-t", str(own), "-p", "audience=kids", stdin="The text.")
    assert result.exit_code == 0, result.stderr
    assert engine.calls[0].user == "For kids: The text."


def test_context_too_small_for_parts_is_exit_4(llm: Runner, engine: FakeEngine) -> None:
    engine.n_ctx = 160
    result = llm("summarize", stdin=numbered_words(2000))
    assert result.exit_code == 4 and "too small" in result.stderr


@pytest.mark.parametrize(
    ("asked", "parts_ask"),
    [({"length": "short"}, "one or two sentences"), ({"words": "40"}, "Summarize this text:")],
)
def test_partial_summaries_follow_the_asked_length(
    engine: FakeEngine, tmp_path: Path, asked: dict[str, str], parts_ask: str
) -> None:
    engine.n_ctx = 512
    engine.replies = ["A partial summary."]
    env = Environment(environ={}, config_dir=tmp_path)
    summarize(
        engine,
        numbered_words(2000),
        template=load_template("summarize", env),
        combine=load_template("summarize-combine", env),
        values={"length": "medium", "words": "", **asked},
        options=GenerationOptions(temperature=0, max_tokens=100),
    )
    parts = [
        c.messages[-1].content for c in engine.calls if "This is part" in c.messages[-1].content
    ]
    assert parts and all(parts_ask in p for p in parts)
    assert not any("about 40 words" in p for p in parts)  # a --words target is for the end


SIX_SENTENCES = " ".join(f"Sentence {i} has exactly eight words in it." for i in range(1, 7))


@pytest.mark.parametrize(
    ("args", "sentences"),
    [((), 6), (("--length", "short"), 4), (("--length", "long"), 6), (("--words", "20"), 6)],
)
def test_paragraph_summaries_keep_the_sentences_within_their_word_budget(
    llm: Runner, engine: FakeEngine, args: tuple[str, ...], sentences: int
) -> None:
    engine.replies = [SIX_SENTENCES]
    result = llm("summarize", *args, stdin="A text to summarize.")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("Sentence") == sentences
    assert result.stdout.rstrip().endswith(".") and result.stderr == ""


def test_a_long_default_summary_is_cut_to_its_first_sentences(
    llm: Runner, engine: FakeEngine
) -> None:
    engine.replies = [SIX_SENTENCES + " " + SIX_SENTENCES]  # 96 words, over the medium 65
    result = llm("summarize", stdin="A text to summarize.")
    assert result.stdout.count("Sentence") == 8  # 64 words
    assert result.stdout.endswith("Sentence 2 has exactly eight words in it.\n")
    assert result.stderr == ""  # dropping sentences past the budget is no warning


def test_bullets_are_not_cut(llm: Runner, engine: FakeEngine) -> None:
    engine.replies = ["\n".join(f"- point {i} with a few words." for i in range(15))]
    result = llm("summarize", "--format", "bullets", stdin="A text to summarize.")
    assert result.stdout.count("- point") == 15  # 105 words, over the medium budget


def test_keep_sentences_skips_abbreviations() -> None:
    from llmcli.tasks.summarize import keep_sentences

    text = "Mr. Cameron said the U.S. agreed. Two more words here. A third one."
    assert keep_sentences(text, 3) == "Mr. Cameron said the U.S. agreed."
    assert keep_sentences(text, 10) == "Mr. Cameron said the U.S. agreed. Two more words here."
    assert keep_sentences(text, 99) == text
    assert keep_sentences("One long sentence with no end", 2) == "One long sentence with no end"
