"""The table of common languages (`tasks/languages.json`) must say what langcodes says."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from llmcli.errors import UsageError
from llmcli.tasks import languages
from llmcli.tasks.languages import Lang, resolve_language

TABLE: dict[str, list[str]] = json.loads(
    (resources.files("llmcli.tasks") / "languages.json").read_text(encoding="utf-8")
)


def _slow(code: str) -> Lang:
    """The langcodes path, without the table."""
    found = languages._from_tag(code)
    assert found is not None, code
    return Lang(found.to_tag(), found.display_name(), found.autonym())


@pytest.mark.parametrize("code", sorted(TABLE))
def test_the_table_matches_langcodes(code: str) -> None:
    assert resolve_language(code) == _slow(code)


def test_codes_are_found_in_any_case_and_others_go_to_langcodes() -> None:
    assert resolve_language("PT") == Lang("pt", "Portuguese", "português")
    assert resolve_language("pt-BR").name == "Portuguese (Brazil)"  # not in the table
    assert resolve_language("português").tag == "pt"
    with pytest.raises(UsageError):
        resolve_language("zzzz qqqq")
