"""Issue 15, generation settings and templates: typed [settings], session settings, /set,
a template of the wrong shape listed with its error, a BOM in a template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcli.chat.session import FORMAT, Session
from llmcli.errors import ExitCode, TemplateError
from llmcli.prompts import parse_template
from llmcli.prompts.settings import SettingError, check_setting, parse_setting
from tests.conftest import Runner
from tests.fake_engine import FakeEngine
from tests.test_chat_repl import ENTER, type_keys


def template(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "t.toml"
    path.write_text('user = "{{ text }}"\n[variables.text]\ndefault = "x"\n' + body)
    return path


def test_stop_string_in_settings_is_one_stop_not_its_characters(
    llm: Runner, engine: FakeEngine, tmp_path: Path
) -> None:
    path = template(tmp_path, '[settings]\nstop = "###"\n')
    assert llm("run", "-t", str(path), "hi").exit_code == 0
    assert engine.calls[-1].options.stop == ("###",)


@pytest.mark.parametrize(
    "line",
    [
        'temperature = "hot"',
        "temperature = nan",
        "top_k = 1.5",
        "seed = -1",
        "max_tokens = 0",
        "stop = [1, 2]",
        'stop = ""',
        "repeat_penalty = inf",
        "top_p = true",
        "colour = 1",
    ],
)
def test_bad_settings_values_are_template_errors(tmp_path: Path, line: str) -> None:
    with pytest.raises(TemplateError, match=r"\[settings\]"):
        parse_template(template(tmp_path, f"[settings]\n{line}\n"), "file")


def test_an_int_is_a_fine_float_and_lists_of_stops_are_kept() -> None:
    assert check_setting("temperature", 1) == 1.0
    assert check_setting("stop", ["a", "b"]) == ("a", "b")
    assert check_setting("seed", None) is None
    with pytest.raises(SettingError):
        check_setting("temperature", True)


def test_parse_setting_reads_typed_text() -> None:
    assert parse_setting("top_k", " 7 ") == 7
    assert parse_setting("max_tokens", "none") is None
    assert (parse_setting("think", "off"), parse_setting("think", "on")) == (False, True)
    assert parse_setting("think", "default") is None
    for name, text in [("temperature", "nan"), ("seed", "1e3"), ("top_k", "9" * 5000)]:
        with pytest.raises(SettingError, match=name):
            parse_setting(name, text)


@pytest.mark.parametrize(
    "body",
    [
        'examples = "x"',
        "examples = [1]",
        "[[examples]]\nuser = 3",
        "variables = 3",
        '[variables.x]\nchoices = "ab"',
        "[variables.y]\ndefault = 1979-05-27",
        "system = 3",
        "name = [1]",
    ],
)
def test_template_of_the_wrong_shape_is_one_error(tmp_path: Path, body: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'user = "u"\n{body}\n')
    with pytest.raises(TemplateError, match=str(path)):
        parse_template(path, "file")


def test_one_broken_user_template_does_not_break_the_list(llm: Runner) -> None:
    user_dir = llm.tmp_path / "config" / "templates"
    user_dir.mkdir(parents=True)
    (user_dir / "shots.toml").write_text('user = "u"\nexamples = "x"\n')
    (user_dir / "dated.toml").write_text('user = "u"\n[variables.d]\ndefault = 1979-05-27\n')
    result = llm("templates", "list", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert "summarize" in rows and "(error:" in rows["shots"]["description"]
    assert "(error:" in rows["dated"]["description"]


def test_template_with_a_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes('\ufeffuser = "hello"\n'.encode())
    assert parse_template(path, "file").user == "hello"


def test_session_file_with_an_unknown_or_bad_setting_is_reported(llm: Runner) -> None:
    directory = llm.tmp_path / "data" / "sessions"
    directory.mkdir(parents=True)
    for name, settings in [("a", {"colour": 1}), ("b", {"temperature": "hot"})]:
        data = Session(name=name).to_dict() | {"settings": settings}
        (directory / f"{name}.json").write_text(json.dumps(data))
        result = llm("chat", "--session", name, stdin="hi\n")
        assert result.exit_code == ExitCode.ERROR
        assert "is corrupt: settings:" in result.stderr and "Traceback" not in result.stderr
    assert FORMAT in (directory / "a.json").read_text()  # left untouched


def test_unbalanced_quote_in_set_keeps_the_chat(llm: Runner, engine: FakeEngine) -> None:
    result = type_keys(llm, '/set temperature "0.2' + ENTER + "hi" + ENTER)
    assert result.exit_code == 0
    assert "cannot read /set" in result.stderr
    assert len(engine.calls) == 1  # the chat went on


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "4294967296"])
def test_set_refuses_non_finite_and_out_of_range(
    llm: Runner, engine: FakeEngine, value: str
) -> None:
    key = "seed" if value.lstrip("-").isdigit() else "repeat_penalty"
    result = type_keys(llm, f"/set {key} {value}" + ENTER + "hi" + ENTER)
    assert f"{key} must be" in result.stderr
    assert engine.calls[-1].options.seed is None
