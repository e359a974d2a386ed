"""bench/tune_summarize.py's spec parsing and its reuse of an earlier run's plain outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.tune_summarize import _plain_outputs, parse_spec

ROWS = [{"article": "A.", "summary": "ref one"}, {"article": "B.", "summary": "ref two"}]


def test_spec_keys_reach_their_fields() -> None:
    spec = parse_spec("t.toml:candidates=4,keep_words=0,length=short,temperature=0.5")
    assert (spec.candidates, spec.keep_words) == (4, 0)
    assert spec.values == {"length": "short"} and spec.options == {"temperature": 0.5}
    assert parse_spec("t.toml").candidates is None and parse_spec("plain").path is None


def test_plain_outputs_are_reused_only_for_the_same_articles(tmp_path: Path) -> None:
    saved = tmp_path / "plain.jsonl"
    records = [{"text": f"plain {i}", "ref": r["summary"]} for i, r in enumerate(ROWS)]
    saved.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert _plain_outputs(saved, ROWS) == ["plain 0", "plain 1"]
    with pytest.raises(SystemExit, match="not the plain outputs"):
        _plain_outputs(saved, ROWS[:1])
