"""Issue 15, what commands read: the sentence splitter and fences stay linear, GGUF headers
that nest too deep, FIFOs and devices, JSONL rows a parser chokes on, long batch lines."""

from __future__ import annotations

import json
import os
import re
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmcli import inputs
from llmcli.engine.gguf import read_gguf
from llmcli.errors import ExitCode, InputError, ModelLoadError
from llmcli.tasks import chunking
from llmcli.tasks.chunking import BOUNDARIES, fences, sentences, split_keep
from tests.conftest import Runner
from tests.fake_engine import FakeEngine
from tests.test_sentiment import keyword_scorer

# -- item 6: the splitter is linear --------------------------------------------------------


def _sentences_before(text: str) -> list[str]:
    """The splitter as it was (quadratic), the reference for the same cuts."""
    out: list[str] = []
    for piece in split_keep(text, BOUNDARIES[2]):
        if out and (chunking._ABBREVIATION.search(out[-1]) or piece[:1].islower()):
            out[-1] += piece
        else:
            out.append(piece)
    return out


_FENCE_BEFORE = re.compile(r"^(```|~~~)[^\n]*\n.*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)

PROSE = st.lists(
    st.sampled_from([*"ab DrX!?\n\t\"')…。,.", "Dr. ", "e.g. ", "Mr. ", "etc. ", "U.S. ", ". "]),
    max_size=80,
).map("".join)
FENCED = st.lists(
    st.sampled_from(["```", "~~~", "```py", "~~~ x", "```  ", "text", "", "````", " ```"]),
    max_size=30,
).map("\n".join)


@given(PROSE)
def test_sentences_cut_where_they_did(text: str) -> None:
    assert sentences(text) == _sentences_before(text)
    assert "".join(sentences(text)) == text


@given(FENCED)
def test_fences_are_the_blocks_the_old_pattern_found(text: str) -> None:
    assert fences(text) == [m.span() for m in _FENCE_BEFORE.finditer(text)]


class _CountingPattern:
    """Stands in for the abbreviation pattern and counts the characters it is asked to read."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.read = 0

    def search(self, text: str) -> re.Match[str] | None:
        self.read += len(text)
        return self.pattern.search(text)


def test_sentence_splitting_reads_each_character_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """16 KB of lower-case sentences took 1.4 s (64 KB: 22 s): the check re-read the whole
    sentence so far at every cut. Counted, not timed: linear work reads ~len(text)."""
    counter = _CountingPattern(chunking._ABBREVIATION)
    monkeypatch.setattr(chunking, "_ABBREVIATION", counter)
    text = "this is short. and so is this. " * 500
    assert len(sentences(text)) == 1  # lower case after each stop: one sentence
    assert counter.read <= 2 * len(text)


# -- item 10 and 16: GGUF headers and files that are not files ----------------------------


def _nested_gguf(depth: int) -> bytes:
    key = b"general.nested"
    value = b""
    for _ in range(depth):
        value = struct.pack("<IQ", 9, 1) + value  # an array of one array...
    value = value[:-12] + struct.pack("<IQ", 4, 0) if depth else value  # ...of no uint32
    kv = struct.pack("<Q", len(key)) + key + struct.pack("<I", 9) + value
    return b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + kv


def test_deeply_nested_gguf_arrays_are_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "nested.gguf"
    path.write_bytes(_nested_gguf(400))  # RecursionError (exit 1) before
    with pytest.raises(ModelLoadError, match="nested too deep"):
        read_gguf(path)


def test_one_level_of_nesting_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "ok.gguf"
    path.write_bytes(_nested_gguf(2))
    assert read_gguf(path).metadata["general.nested"] == [[]]


def _within(seconds: float, fn: Callable[[], Any]) -> Any:
    """fn's result or exception; a call still blocked after `seconds` is a test failure."""
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "blocked"
    if "error" in box:
        raise box["error"]
    return box.get("value")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_as_the_model_is_refused_not_waited_on(tmp_path: Path, llm: Runner) -> None:
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    with pytest.raises(ModelLoadError, match="not a regular file"):
        _within(10, lambda: read_gguf(fifo))
    result = _within(10, lambda: llm("models", "show", str(fifo)))
    assert result.exit_code == ExitCode.MODEL_NOT_FOUND
    assert "not a regular file" in result.stderr


# -- item 11: JSONL rows ------------------------------------------------------------------


def test_jsonl_rows_the_parser_chokes_on_fail_alone(llm: Runner, engine: FakeEngine) -> None:
    rows = [
        json.dumps({"text": "I love it"}),
        '{"text": "x", "n": ' + "9" * 5000 + "}",  # int digit limit: ValueError before
        "[" * 100_000 + "]" * 100_000,  # RecursionError before
        json.dumps({"text": "awful"}),
    ]
    engine.scorer = keyword_scorer
    result = llm("sentiment", "--batch", "--field", "text", stdin="\n".join(rows) + "\n")
    assert result.exit_code == ExitCode.INPUT_INVALID
    assert "could not classify 2 lines (lines 2, 3)" in result.stderr
    labels = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert labels == ["positive", "", "", "negative"]


@pytest.mark.parametrize(
    "line", ["{", "9" * 5000, "[" * 50_000, '{"a": NaN', '"\\ud800"', "1e99999"]
)
def test_parse_json_line_fails_with_value_error_only(line: str) -> None:
    try:
        inputs.parse_json_line(line)
    except ValueError as exc:
        assert str(exc).startswith("not ")


# -- item 12: reads are capped whatever the source says its size is -----------------------


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_dev_zero_is_refused_early(llm: Runner) -> None:
    result = _within(20, lambda: llm("run", "-f", "/dev/zero", "hi"))
    assert result.exit_code == ExitCode.INPUT_INVALID
    assert "looks like binary data" in result.stderr


def test_a_source_without_a_size_is_cut_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs, "MAX_INPUT_BYTES", 100_000)
    import io

    with pytest.raises(InputError, match="larger than"):
        inputs._read_capped(io.BytesIO(b"a" * 100_001), "pipe")
    assert len(inputs._read_capped(io.BytesIO(b"a" * 100_000), "pipe")) == 100_000


def test_an_overlong_batch_line_is_that_lines_error(llm: Runner, engine: FakeEngine) -> None:
    engine.scorer = keyword_scorer
    long_line = "a" * (inputs.MAX_LINE_BYTES + 10)
    result = llm("sentiment", "--batch", stdin=f"I love it\n{long_line}\nawful\n")
    assert result.exit_code == ExitCode.INPUT_INVALID
    assert "line 2 is longer than 16 MiB" in result.stderr
    labels = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert labels == ["positive", "", "negative"]


# -- found by the fuzz run: a ~user that does not exist -------------------------------------


def test_a_path_under_an_unknown_home_is_not_a_crash(llm: Runner) -> None:
    """pathlib's expanduser raises RuntimeError for ~nosuchuser (exit 1, a traceback)."""
    model = llm("run", "-m", "~nosuchuser-llmcli/m.gguf", "hi")
    assert model.exit_code == ExitCode.MODEL_NOT_FOUND, model.stderr
    template = llm("run", "-t", "~nosuchuser-llmcli/t.toml", "hi")
    assert template.exit_code == ExitCode.USAGE, template.stderr


def test_a_model_or_template_name_too_long_for_a_path_is_not_a_crash(llm: Runner) -> None:
    """Path.exists raises OSError (ENAMETOOLONG) for a 300-character name: it was exit 1."""
    model = llm("run", "-m", "a" * 300, "hi")
    assert model.exit_code == ExitCode.MODEL_NOT_FOUND, model.stderr
    assert "unexpected" not in model.stderr
    template = llm("run", "-t", "a" * 300 + ".toml", "hi")
    assert template.exit_code == ExitCode.USAGE, template.stderr
    alias = llm("models", "alias", "x", "a" * 300)
    assert alias.exit_code == ExitCode.MODEL_NOT_FOUND, alias.stderr
