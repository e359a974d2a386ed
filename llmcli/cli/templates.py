"""`llm templates list|show|path`: the prompt templates, built-in and the user's own."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from llmcli.cli import options as o
from llmcli.cli.context import setup
from llmcli.cli.options import RunFlags

EPILOG = """\
Examples:

  llm templates list

  llm templates show summarize

  mkdir -p "$(llm templates path)"

  llm templates show translate > "$(llm templates path)/translate.toml"

  llm run -t summarize -p length=short -f report.txt

A template is a TOML file: name, description, system and user messages (Jinja), declared
[variables.NAME] (default, help, choices, required), [settings] (temperature, top_p, top_k,
min_p, repeat_penalty, server_repeat_penalty, max_tokens, seed, stop), optional
[[examples]] (user/assistant pairs) and an optional schema (a JSON Schema table, a string in
--schema's short form or JSON, or a .json file beside the template): `llm run -t FILE` then
replies with JSON that matches it. A file in the user directory overrides the built-in of
the same name.
"""

app = typer.Typer(
    name="templates",
    help="List, show and locate prompt templates.",
    epilog=EPILOG,
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("list", epilog=EPILOG)
@o.shared(o.JSON, o.DEBUG)
def list_templates(ctx: typer.Context, *, flags: RunFlags) -> None:
    """List every template: name, where it comes from, description."""
    from llmcli.output import emit_json, make_console

    env, _ = setup(ctx, flags)
    rows = [_describe(name, path, origin) for name, (path, origin) in _paths(env).items()]
    if flags.json:
        emit_json(env, rows)
        return
    if not env.stdout_isatty:
        for row in rows:
            env.stdout.write(f"{row['name']}\t{row['origin']}\t{row['description']}\n")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("name", "origin", "description"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["origin"], row["description"])
    make_console(env).print(table)


@app.command("show", epilog=EPILOG)
@o.shared(o.JSON, o.DEBUG)
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Template name or path to a .toml file.")],
    *,
    flags: RunFlags,
) -> None:
    """Print a template's source; where it comes from goes to stderr (or into --json)."""
    from llmcli.output import emit_json, make_console, notice
    from llmcli.prompts import load_template

    env, _ = setup(ctx, flags)
    tmpl = load_template(name, env)
    if flags.json:
        emit_json(env, _describe(tmpl.name, tmpl.path, tmpl.origin) | {"source": tmpl.source})
        return
    notice(env, f"{tmpl.name}: {tmpl.origin}, {tmpl.path}")
    if env.stdout_isatty:
        from rich.syntax import Syntax

        make_console(env).print(Syntax(tmpl.source, "toml", word_wrap=True))
    else:  # piped: exactly the file, so `show NAME > copy.toml` is a starting point
        env.stdout.write(tmpl.source if tmpl.source.endswith("\n") else tmpl.source + "\n")


@app.command("path", epilog=EPILOG)
@o.shared(o.JSON, o.DEBUG)
def path(ctx: typer.Context, *, flags: RunFlags) -> None:
    """Print the directory for your own templates (it may not exist yet)."""
    from llmcli.output import emit_json
    from llmcli.prompts import builtin_dir

    env, _ = setup(ctx, flags)
    if flags.json:
        emit_json(env, {"user": str(env.templates_dir), "builtin": str(builtin_dir())})
        return
    env.stdout.write(f"{env.templates_dir}\n")


def _paths(env: Any) -> dict[str, Any]:
    from llmcli.prompts import template_paths

    return template_paths(env)


def _describe(name: str, path: Any, origin: str) -> dict[str, Any]:
    """A row for list/show; a broken user template is listed with its error, not fatal."""
    from llmcli.errors import TemplateError
    from llmcli.prompts import parse_template

    row: dict[str, Any] = {"name": name, "origin": origin, "path": str(path)}
    try:
        tmpl = parse_template(path, origin)
    except TemplateError as exc:
        return row | {"description": f"(error: {exc.message})", "variables": {}}
    variables = {
        v.name: {"default": v.default, "help": v.help, "required": v.required}
        | ({"choices": list(v.choices)} if v.choices else {})
        for v in tmpl.variables.values()
    }
    row |= {"description": tmpl.description, "variables": variables}
    return row | ({"schema": dict(tmpl.schema)} if tmpl.schema is not None else {})


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="templates")
