"""The template layer: built-ins, user overrides, validation, errors with file:line, and
`llm templates list|show|path`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcli.env import Environment
from llmcli.errors import TemplateError
from llmcli.prompts import builtin_dir, load_template, parse_params, template_paths
from tests.conftest import Runner
from tests.fake_engine import FakeEngine

REQUIRED = {"summarize": {"text": "T"}, "summarize-combine": {"text": "T"}}
REQUIRED |= {"translate": {"text": "T", "target": "Portuguese"}}
REQUIRED |= {"translate-lines": {"text": "[1] T", "target": "Portuguese"}}


@pytest.fixture
def env(tmp_path: Path) -> Environment:
    return Environment(
        environ={}, config_dir=tmp_path / "config", data_dir=tmp_path, cache_dir=tmp_path
    )


def write_user(env: Environment, name: str, text: str) -> Path:
    env.templates_dir.mkdir(parents=True, exist_ok=True)
    path = env.templates_dir / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("path", sorted(builtin_dir().glob("*.toml")), ids=lambda p: p.stem)
def test_every_builtin_parses_and_renders(env: Environment, path: Path) -> None:
    tmpl = load_template(path.stem, env)
    assert tmpl.origin == "built-in" and tmpl.description
    values = {v.name: "x" for v in tmpl.variables.values() if v.required}
    values |= REQUIRED.get(path.stem, {})
    messages = tmpl.render(values)
    assert messages[-1].role == "user"
    assert messages[-1].content or path.stem in ("chat", "run")  # those two default to empty


def test_summarize_renders_its_options(env: Environment) -> None:
    tmpl = load_template("summarize", env)
    user = tmpl.render({"text": "Body.", "length": "short", "format": "bullets", "lang": "French"})
    last = user[-1].content
    assert "Body." in last and "one or two sentences" in last
    assert "bullet points" in last and last.endswith(" in French.")
    assert "about 120 words" in tmpl.render({"text": "B", "words": "120"})[-1].content


def test_translate_examples_follow_the_target_language(env: Environment) -> None:
    tmpl = load_template("translate", env)
    pt = tmpl.render({"text": "Hi", "target": "Portuguese", "target_code": "pt-BR"})
    assert [m.role for m in pt] == ["user", "assistant", "user"]
    assert "biblioteca" in pt[1].content
    ja = tmpl.render({"text": "Hi", "target": "Japanese", "target_code": "ja"})
    assert [m.role for m in ja] == ["user"]  # examples that render empty drop out


def test_user_template_overrides_builtin_and_adds_names(env: Environment) -> None:
    write_user(env, "summarize", 'user = "mine: {{ text }}"\n[variables.text]\n')
    write_user(
        env,
        "haiku",
        'description = "a haiku"\nuser = "haiku about {{ topic }}"\n'
        '[variables.topic]\ndefault = "rain"\n',
    )
    paths = template_paths(env)
    assert paths["summarize"][1] == "user" and paths["haiku"][1] == "user"
    assert paths["translate"][1] == "built-in"
    assert load_template("summarize", env).render({"text": "x"})[-1].content == "mine: x"
    assert load_template("haiku", env).render({})[-1].content == "haiku about rain"


def test_template_by_path(env: Environment, tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('user = "hello {{ who }}"\n[variables.who]\ndefault = "you"\n')
    tmpl = load_template(str(path), env)
    assert tmpl.origin == "file" and tmpl.render({})[-1].content == "hello you"


def test_unknown_template_suggests_close_names(env: Environment) -> None:
    with pytest.raises(TemplateError) as err:
        load_template("sumarize", env)
    assert "unknown template 'sumarize'" in err.value.message
    assert "summarize" in (err.value.hint or "")


def test_parameters_are_validated(env: Environment) -> None:
    tmpl = load_template("summarize", env)
    with pytest.raises(TemplateError, match="no parameter 'tone'"):
        tmpl.render({"text": "x", "tone": "dry"})
    with pytest.raises(TemplateError, match="length must be one of short, medium, long"):
        tmpl.render({"text": "x", "length": "huge"})
    with pytest.raises(TemplateError, match="needs a value for 'text'"):
        tmpl.render({})


def test_parse_params() -> None:
    assert parse_params(["a=1", "b = two=2"]) == {"a": "1", "b": " two=2"}
    with pytest.raises(TemplateError, match="key=value"):
        parse_params(["novalue"])


def test_undeclared_variable_names_file_and_variable(env: Environment) -> None:
    path = write_user(env, "bad", 'name = "bad"\nuser = """\nHello\n{{ missing }}\n"""\n')
    with pytest.raises(TemplateError) as err:
        load_template("bad", env).render({})
    assert f"{path}:" in err.value.message and "'missing' is undefined" in err.value.message


def test_jinja_syntax_error_gives_file_and_line(env: Environment) -> None:
    path = write_user(env, "broken", 'name = "broken"\nuser = """\nline one\n{% if %}\n"""\n')
    with pytest.raises(TemplateError) as err:
        load_template("broken", env).render({})
    assert f"{path}:4" in err.value.message and "syntax error" in err.value.message


def test_invalid_toml_is_a_template_error(env: Environment) -> None:
    write_user(env, "nottoml", "user = \n")
    with pytest.raises(TemplateError, match="not valid TOML"):
        load_template("nottoml", env)


def test_system_and_user_must_come_before_tables(env: Environment) -> None:
    write_user(env, "order", '[variables.x]\ndefault = "1"\nuser = "hi"\n')
    with pytest.raises(TemplateError) as err:
        load_template("order", env)
    assert "[variables.x]" in (err.value.hint or "") and "before the first" in (
        err.value.hint or ""
    )


# -- llm templates ------------------------------------------------------------------------


def test_templates_list_piped_is_tab_separated(llm: Runner) -> None:
    result = llm("templates", "list")
    assert result.exit_code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    names = [r[0] for r in rows]
    assert {"run", "summarize", "translate", "chat"} <= set(names)
    assert all(r[1] == "built-in" for r in rows)
    assert "\x1b" not in result.stdout


def test_templates_list_json_and_user_override(llm: Runner, tmp_path: Path) -> None:
    user_dir = tmp_path / "config" / "templates"
    user_dir.mkdir(parents=True)
    (user_dir / "translate.toml").write_text('description = "mine"\nuser = "{{ text }}"\n')
    (user_dir / "broken.toml").write_text("user = [\n")
    data = {row["name"]: row for row in json.loads(llm("templates", "list", "--json").stdout)}
    assert data["translate"]["origin"] == "user" and data["translate"]["description"] == "mine"
    assert data["summarize"]["variables"]["length"]["choices"] == ["short", "medium", "long"]
    assert data["broken"]["description"].startswith("(error:")


def test_templates_list_in_a_terminal_is_a_table(llm: Runner) -> None:
    result = llm("templates", "list", tty=True)
    assert result.exit_code == 0
    assert "summarize" in result.stdout and "built-in" in result.stdout


def test_templates_show_prints_the_source_and_origin(llm: Runner) -> None:
    result = llm("templates", "show", "summarize")
    assert result.exit_code == 0
    assert result.stdout == (builtin_dir() / "summarize.toml").read_text(encoding="utf-8")
    assert "built-in" in result.stderr and "summarize.toml" in result.stderr
    data = json.loads(llm("templates", "show", "summarize", "--json").stdout)
    assert data["origin"] == "built-in" and data["source"].startswith("#")


def test_templates_show_unknown_is_exit_2(llm: Runner) -> None:
    result = llm("templates", "show", "nope")
    assert result.exit_code == 2
    assert "unknown template 'nope'" in result.stderr


def test_templates_path(llm: Runner, tmp_path: Path) -> None:
    result = llm("templates", "path")
    assert result.stdout.strip() == str(tmp_path / "config" / "templates")
    data = json.loads(llm("templates", "path", "--json").stdout)
    assert Path(data["builtin"], "summarize.toml").is_file()


# -- llm run -t -----------------------------------------------------------------------------


def test_run_any_template_with_params(llm: Runner, engine: FakeEngine) -> None:
    result = llm("run", "-t", "summarize", "-p", "length=short", stdin="Long report text.")
    assert result.exit_code == 0, result.stderr
    assert "Long report text." in engine.calls[0].user
    assert "one or two sentences" in engine.calls[0].user
    assert engine.calls[0].options.temperature == 0


def test_run_template_unknown_param_is_exit_2(llm: Runner, engine: FakeEngine) -> None:
    result = llm("run", "-t", "summarize", "-p", "tone=dry", stdin="text")
    assert result.exit_code == 2
    assert "no parameter 'tone'" in result.stderr
    assert engine.calls == []
