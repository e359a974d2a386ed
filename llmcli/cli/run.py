"""`llm run`: one-shot generation."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from llmcli.cli import options as o
from llmcli.cli.context import model_loader, setup
from llmcli.cli.options import RunFlags
from llmcli.errors import InputError

EPILOG = """\
Examples:

  llm run "Write a haiku about autumn"

  echo "Paris is the capital of France." | llm run "Say this in other words"

  llm run -f notes.txt "List the action items" --json

  llm run -m ./models/qwen2.5-0.5b-instruct-q4_k_m.gguf --temperature 0 "2+2?"

  llm run -t summarize -p length=short -f report.txt

  llm run --endpoint http://127.0.0.1:8080 "2+2?"     # on an OpenAI-compatible server
"""


@o.shared(*o.MODEL_COMMAND)
def run(
    ctx: typer.Context,
    prompt: Annotated[
        Optional[str], typer.Argument(help="Instruction or question.", show_default=False)
    ] = None,
    files: o.Files = None,
    system: o.System = None,
    template: o.TemplateName = None,
    params: o.Params = None,
    *,
    flags: RunFlags,
) -> None:
    """Generate a reply to PROMPT. Text piped on stdin (or -f FILE) is the material the
    prompt applies to."""
    from llmcli.engine import check_fits
    from llmcli.inputs import read_inputs
    from llmcli.prompts import load_template, parse_params
    from llmcli.runtime import generation_options

    env, settings = setup(ctx, flags)
    material = read_inputs(env, files)
    tmpl = load_template(template or "run", env)
    values = parse_params(params or [])
    if template is None:
        if not (prompt or "").strip() and not (material or "").strip():
            raise InputError("nothing to do: give a prompt, pipe text on stdin, or use -f FILE")
        values.update(prompt=prompt or "", input=material or "", system=system or "")
    else:
        _fill_template_input(tmpl.name, set(tmpl.variables), values, prompt, material)
    if template and system is not None:
        values.setdefault("system", system)
    messages = tmpl.render(values)
    opts = generation_options(tmpl.settings, settings)
    with model_loader(env, settings).open() as loaded:
        check_fits(loaded.engine, messages, opts)
        events = loaded.engine.stream(messages, opts)
        if flags.json:
            from llmcli.engine import join_stream
            from llmcli.errors import StreamBrokenError
            from llmcli.output import emit_json, json_envelope

            try:
                done = join_stream(events)
            except StreamBrokenError as exc:  # a server died mid-reply: keep what it said
                emit_json(env, json_envelope(exc.partial, loaded, tmpl.name, {}, error=exc.message))
                raise
            emit_json(env, json_envelope(done.text, loaded, tmpl.name, done.stats.as_dict()))
            return
        from llmcli.output import notice, stats_line
        from llmcli.output.stream import pump, text_sink

        _, stats = pump(events, text_sink(env))
        if stats and (env.verbose or stats.finish_reason == "length"):
            notice(env, stats_line(stats))


def _fill_template_input(
    template_name: str,
    names: set[str],
    values: dict[str, str],
    prompt: str | None,
    material: str | None,
) -> None:
    """With -t, the argument and stdin feed the template's main variables; nothing is dropped."""
    given = [(prompt, ("prompt", "message", "question")), (material, ("input", "text"))]
    for value, keys in given:
        if not value:  # an empty pipe is no input
            continue
        key = next((k for k in keys if k in names), None)
        if key is None:  # a template with one text slot takes whichever input there is
            key = next((k for k in ("input", "text", "prompt", "message") if k in names), None)
        if key is None or key in values:
            from llmcli.errors import TemplateError

            raise TemplateError(
                f"template {template_name!r} has no variable for this input",
                hint=f"pass it with -p NAME=VALUE; variables: {', '.join(sorted(names)) or 'none'}",
            )
        values[key] = value


def register(app: typer.Typer) -> None:
    app.command("run", epilog=EPILOG)(run)
