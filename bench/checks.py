"""Quality checks: claims about what the bundled model says, one real `llm` run each.

"A test that depends on a model's wording is a quality check": these claims came out of
tests/integration/, whose tests keep the structure (exit codes, line counts, JSON keys, label
sets). Each check runs the installed `llm` on the bundled SmolLM2-135M-Instruct in a fresh
environment and is recorded as pass or fail; a wrong answer is a finding for the table, never
an exception. A command that fails (or output that cannot be read) is recorded as an error,
and the other checks still run.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import LLM, Sample, check, command, llm_env, run_cmd, table, threads

# The inputs of the tests each claim came from (see `origin`), unchanged.
NAME_LINES = "My name is Ana.\nWhat is my name? Answer with the name only.\n"
SENTIMENT_LINES = "I love it\nThis is awful\n"
ARTICLE = """\
The city council voted on Tuesday to build a new public library on the site of the old bus
depot. Construction will cost fourteen million dollars and is expected to start next spring.

Supporters said the current library is too small and floods every winter. Two councillors
opposed the plan and said the money should go to road repairs first.
"""
REPORTS = "\n\n".join(
    f"Report {i}: the team in region {i} sold {i * 7} machines and hired {i % 5} people. "
    f"Customers in region {i} asked for longer warranties and faster delivery."
    for i in range(130)
)  # about 5,300 tokens: ten times a 512-token context
LINES = "Good morning.\n\nThe train leaves at noon.\nThank you very much.\n\n\nSee you tomorrow.\n"
DOCUMENT = "The weather is nice today.\n\nWe are going to the beach.\n"
PREAMBLE = re.compile(r"^\s*(here is|here's|sure|summary:|certainly)", re.IGNORECASE)
CHATTER = re.compile(r"^\s*(translation|here is|here's|sure)\b", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Outcome:
    passed: bool
    said: str  # what the model said: the evidence in the table


@dataclass(frozen=True)
class Check:
    name: str
    claim: str
    origin: str  # the test that asserted it before; it keeps the structure
    probe: Callable[[dict[str, str]], Outcome]


@dataclass(frozen=True)
class Result:
    check: Check
    status: str  # "pass" | "fail" | "error"
    said: str
    seconds: float


def _llm(env: dict[str, str], *args: str, stdin: str = "", timeout: float = 600) -> Sample:
    return check(run_cmd([LLM, *args], stdin=stdin, env=env, timeout=timeout), f"llm {args[0]}")


def _chat_recalls_name(env: dict[str, str]) -> Outcome:
    args = ("chat", "--session", "name", "--temperature", "0", "--max-tokens", "40")
    _llm(env, *args, stdin=NAME_LINES)
    path = Path(env["LLM_DATA_DIR"]) / "sessions" / "name.json"
    messages = json.loads(path.read_text("utf-8"))["messages"]
    reply = [m["content"] for m in messages if m["role"] == "assistant"][1]
    return Outcome("Ana" in reply, reply)


def _sentiment_batch(env: dict[str, str]) -> Outcome:
    args = ("sentiment", "--batch", "--labels", "positive,negative")
    out = _llm(env, *args, stdin=SENTIMENT_LINES).stdout
    labels = [line.split("\t")[0] for line in out.splitlines()]
    return Outcome(labels == ["positive", "negative"], out)


def _summary_short(env: dict[str, str]) -> Outcome:
    out = _llm(env, "summarize", "--length", "short", stdin=ARTICLE).stdout
    return Outcome(not PREAMBLE.match(out), out)


def _summary_json(env: dict[str, str]) -> Outcome:
    text = json.loads(_llm(env, "summarize", "--json", "--words", "30", stdin=ARTICLE).stdout)
    return Outcome(not PREAMBLE.match(text["text"]), text["text"])


def _summary_map_reduce(env: dict[str, str]) -> Outcome:
    out = _llm(env, "summarize", "--ctx", "512", "--json", stdin=REPORTS, timeout=1800).stdout
    text = json.loads(out)["text"]
    return Outcome(not PREAMBLE.match(text), text)


def _translate_lines(env: dict[str, str]) -> Outcome:
    args = ("translate", "--to", "pt", "--lines", "--max-tokens", "48")
    out = _llm(env, *args, stdin=LINES).stdout
    return Outcome(not CHATTER.search(out), out)


def _translate_document(env: dict[str, str]) -> Outcome:
    out = _llm(env, "translate", "--to", "Portuguese", stdin=DOCUMENT).stdout
    return Outcome(not out.startswith(('"', "“")), out)


def _gemma_base_answers(env: dict[str, str]) -> Outcome:
    from bench.matrix import GEMMA

    if not GEMMA.is_file():
        return Outcome(False, f"not run: no {GEMMA} (make gemma)")
    args = ("run", "-m", str(GEMMA), "--temperature", "0", "What is the capital of France?")
    out = _llm(env, *args).stdout
    return Outcome("Paris" in out, out)


SUMMARIZE_TESTS = "tests/integration/test_summarize_model.py::"
TRANSLATE_TESTS = "tests/integration/test_translate_model.py::"
CHECKS = (
    Check(
        "chat_recalls_name",
        'told "My name is Ana.", the reply to "What is my name?" contains "Ana" (temperature 0)',
        "tests/integration/test_chat_model.py::test_second_turn_sees_the_first",
        _chat_recalls_name,
    ),
    Check(
        "sentiment_batch",
        '`--batch`: "I love it" is positive, "This is awful" negative',
        "tests/integration/test_sentiment_model.py::"
        "test_batch_answers_each_line_with_a_label_from_the_set",
        _sentiment_batch,
    ),
    Check(
        "summary_short_no_preamble",
        '`--length short`: the summary starts with no "Here is"/"Sure"/"Summary:"/"Certainly"',
        SUMMARIZE_TESTS + "test_piped_summary_is_plain_text",
        _summary_short,
    ),
    Check(
        "summary_json_no_preamble",
        "`--json --words 30`: its `text` starts with none of those either",
        SUMMARIZE_TESTS + "test_json_reports_model_tokens_and_timings",
        _summary_json,
    ),
    Check(
        "summary_map_reduce_no_preamble",
        "`--ctx 512` on ten times the context (map-reduce): nor does the final `text`",
        SUMMARIZE_TESTS + "test_map_reduce_on_ten_times_the_context",
        _summary_map_reduce,
    ),
    Check(
        "translate_lines_no_chatter",
        '`--to pt --lines`: no line starts with "Translation"/"Here is"/"Sure"',
        TRANSLATE_TESTS + "test_lines_mode_keeps_count_and_blank_lines",
        _translate_lines,
    ),
    Check(
        "gemma_base_answers",
        'Gemma 3 270M (base, completed as text): "What is the capital of France?" -> "Paris" '
        "(temperature 0)",
        "tests/integration/test_model_families.py::"
        "test_gemma_base_model_answers_and_stops_on_its_own",
        _gemma_base_answers,
    ),
    Check(
        "translate_document_unquoted",
        "`--to Portuguese`, two paragraphs: the translation does not start with a quote",
        TRANSLATE_TESTS + "test_document_keeps_paragraphs_and_is_deterministic",
        _translate_document,
    ),
)


def run_check(item: Check) -> Result:
    """One check in a fresh environment; never raises (a failure is a row of the table)."""
    start = time.perf_counter()
    try:
        with llm_env() as env:
            outcome = item.probe(env)
        status, said = ("pass" if outcome.passed else "fail"), outcome.said
    except Exception as exc:
        status, said = "error", f"{type(exc).__name__}: {exc}"
    took = time.perf_counter() - start
    print(f"bench: checks: {item.name}: {status} ({took:.0f} s)", file=sys.stderr, flush=True)
    return Result(item, status, said, took)


def _cell(text: str, limit: int = 120) -> str:
    """Table-safe: newlines shown as ⏎, tabs as spaces, pipes escaped, long text cut."""
    flat = text.strip().replace("\r", "").replace("\t", " ").replace("\n", " ⏎ ")
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat.replace("|", "\\|") or "(nothing)"


def run() -> str:
    results = [run_check(item) for item in CHECKS]
    passed = sum(r.status == "pass" for r in results)
    errors = sum(r.status == "error" for r in results)
    rows = [
        [
            f"`{r.check.name}`",
            r.check.claim,
            {"pass": "pass", "fail": "**fail**", "error": "**error**"}[r.status],
            f"{r.seconds:.0f}",
            _cell(r.said),
            f"`{r.check.origin}`",
        ]
        for r in results
    ]
    summary = f"**{passed} of {len(results)} pass**" + (
        f"; {errors} could not be judged (the command failed: see the row)." if errors else "."
    )
    return "\n".join(
        [
            "## Quality checks",
            "",
            command("checks"),
            "",
            "Claims about what the bundled SmolLM2-135M-Instruct says, moved out of tests/ "
            "(a test that depends on a model's wording is a quality check; the tests keep the "
            "structure: exit codes, shapes, label sets). Each check runs the installed `llm` "
            f"once, in a fresh config, data and cache directory, with {threads()} thread(s); "
            "a wrong answer is recorded here, not raised. " + summary,
            "",
            table(["check", "claim", "result", "s", "what the model said", "moved from"], rows),
        ]
    )
