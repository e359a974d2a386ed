"""The tasks fanned out over scripted servers, one dying mid-batch: every item gets exactly
one result, in input order, the same as one after another on one engine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from llmcli.engine import GenerationOptions
from llmcli.env import Environment
from llmcli.prompts import load_template, parse_template
from llmcli.tasks.fanout import FanOut, Lane
from llmcli.tasks.languages import resolve_language
from llmcli.tasks.sentiment import Classifier
from llmcli.tasks.summarize import summarize
from llmcli.tasks.translate import Translator
from tests.conftest import Runner
from tests.fake_engine import FakeEngine
from tests.fake_servers import FakeServer
from tests.test_sentiment_task import TEMPLATE, keyword_scorer
from tests.test_summarize import numbered_words, seen_words
from tests.test_translate import upper


def two_servers(die_after: int = 3) -> tuple[FakeServer, FakeServer, FanOut, list[str]]:
    b = FakeServer(name="b", die_after=die_after)
    a = FakeServer(name="a", wait_for=b.died)  # b takes the work until it dies mid-batch
    warnings: list[str] = []
    fan = FanOut(
        [Lane("a", a), Lane("b", b)], parallel=3, warn=warnings.append, sleep=lambda _: None
    )
    return a, b, fan, warnings


def test_sentiment_batch_every_line_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(TEMPLATE, encoding="utf-8")
    template = parse_template(path, "file")
    a, b, fan, warnings = two_servers()
    for server in (a, b):
        server.scorer = keyword_scorer
    lines: list[str] = [("good film" if n % 3 else "bad film") if n % 7 else "" for n in range(40)]
    local = FakeEngine(scorer=keyword_scorer)  # calibrates; the lines go to the servers
    classifier = Classifier(local, template, ("positive", "negative"), calibrate=True)
    results = list(classifier.classify_lines(lines, mapper=fan))
    assert [r.line for r in results] == list(range(1, 41))
    for text, result in zip(lines, results, strict=True):
        if not text:
            assert result.prediction is None and result.error is None
        else:
            assert result.prediction is not None
            assert result.prediction.label == ("positive" if "good" in text else "negative")
    texts = [t for t in lines if t]
    assert len(a.served) + len(b.served) == len(texts)  # each line scored once
    assert len(b.served) == 3 and "b stopped answering" in warnings[0]


def translator(
    engine: FakeEngine, fan: FanOut | None, tmp_path: Path, unit: str = "sentence"
) -> Translator:
    env = Environment(environ={}, config_dir=tmp_path)
    return Translator(
        engine,
        load_template("translate", env),
        load_template("translate-lines", env),
        resolve_language("pt"),
        None,
        GenerationOptions(temperature=0),
        batch=2,
        unit=unit,
        mapper=fan,
    )


def test_translate_lines_fanned_out_match_one_engine(tmp_path: Path) -> None:
    rows = [f"line {n}" if n % 5 else "" for n in range(30)]
    text = "\n".join(rows) + "\n"
    alone = FakeEngine(replies=[upper])
    expected = list(translator(alone, None, tmp_path).lines(text))
    a, b, fan, warnings = two_servers()
    a.replies = b.replies = [upper]
    work = translator(a, fan, tmp_path)
    assert list(work.lines(text)) == expected == [r.upper() for r in rows]
    assert len(work.calls) == len(alone.calls)  # each batch's record came back
    assert len(b.served) == 3 and "b stopped answering" in warnings[0]


def test_translate_sentences_of_a_paragraph_fan_out(tmp_path: Path) -> None:
    text = " ".join(f"Sentence number {n} is here." for n in range(12)) + "\n"
    a, b, fan, _ = two_servers()
    a.replies = b.replies = [upper]
    out = "".join(translator(a, fan, tmp_path).document(text))
    assert out == text.upper()
    assert a.served and b.served


def test_summarize_map_phase_fans_out(tmp_path: Path) -> None:
    env = Environment(environ={}, config_dir=tmp_path)
    a, b, fan, _ = two_servers()
    for server in (a, b):
        server.n_ctx = 512
        server.replies = ["A short partial summary."]
    result = summarize(
        a,
        numbered_words(3000),
        template=load_template("summarize", env),
        combine=load_template("summarize-combine", env),
        values={"length": "medium"},
        options=GenerationOptions(temperature=0, max_tokens=100),
        mapper=fan,
    )
    assert result.parts > 6 and result.text == "A short partial summary."
    assert seen_words(a) | seen_words(b) == {f"w{i}" for i in range(3000)}
    assert len(b.served) == 3 and len(a.served) == len(result.calls) - 3


def test_parallel_without_a_server_says_it_runs_one_at_a_time(
    llm: Runner, engine: FakeEngine
) -> None:
    result = llm("sentiment", "--batch", "--parallel", "4", stdin="good\nbad\n")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2
    assert "--parallel needs a server (--endpoint)" in result.stderr


@pytest.mark.parametrize("value", ["0", "-1", "1000"])
def test_parallel_out_of_range_is_exit_2(llm: Runner, value: str) -> None:
    result = llm("sentiment", "--batch", "--parallel", value, stdin="good\n")
    assert result.exit_code == 2
    assert "--parallel must be between 1 and" in result.stderr


def test_sentiment_batch_over_two_endpoints_one_dying(llm: Runner) -> None:
    # h:1 calibrates (3 texts) and scores 3 lines, then dies; h:2 waits until it is taken out
    b = FakeServer(name="b", die_after=6, died_at=3, scorer=keyword_scorer)
    a = FakeServer(name="a", wait_for=b.died, scorer=keyword_scorer)
    servers = {"http://h:1": b, "http://h:2": a}
    llm.remote_engine = lambda endpoint: servers[endpoint.url]
    lines = [f"{'good' if n % 2 else 'bad'} line {n}" for n in range(20)]
    argv = ["sentiment", "--batch", "--endpoint", "http://h:1", "--endpoint", "http://h:2"]
    result = llm(*argv, "--parallel", "2", "--json", stdin="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(row) for row in result.stdout.splitlines()]
    assert [row["line"] for row in rows] == list(range(1, 21))
    assert [row["label"] for row in rows] == [
        "positive" if "good" in line else "negative" for line in lines
    ]
    assert len(b.served) == 6 and len(a.served) == 17
    assert "llm: warning: h:1 stopped answering (b: connection refused)" in result.stderr
    last = result.stderr.splitlines()[-1]
    assert re.fullmatch(r"llm: requests per server: h:1 3 \(then down\), h:2 17 \([\d.]+/s\)", last)


def test_translate_short_paragraphs_fan_out_and_keep_the_layout(tmp_path: Path) -> None:
    text = "".join(f"Paragraph {n} is short.\n\n" for n in range(10)) + "- a list item\n"
    alone = "".join(translator(FakeEngine(replies=[upper]), None, tmp_path).document(text))
    a, b, fan, _ = two_servers()
    a.replies = b.replies = [upper]
    out = "".join(translator(a, fan, tmp_path).document(text))
    assert out == alone == text.upper()
    assert len(b.served) == 3 and a.served  # one paragraph a call, over both servers
