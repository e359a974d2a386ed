"""`llm run`: one-shot generation."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from llmcli.cli import options as o
from llmcli.cli.context import model_loader, setup
from llmcli.cli.options import RunFlags
from llmcli.env import Environment
from llmcli.errors import InputError

if TYPE_CHECKING:
    from llmcli.cli.structured import Shape
    from llmcli.engine import Engine, GenerationOptions, Message, Stats
    from llmcli.prompts import Template
    from llmcli.runtime import LoadedModel
    from llmcli.tasks.extract import Extractor

EPILOG = """\
Examples:

  llm run "Write a haiku about autumn"

  echo "Paris is the capital of France." | llm run "Say this in other words"

  llm run -f notes.txt "List the action items" --json

  llm run -m ./models/qwen2.5-0.5b-instruct-q4_k_m.gguf --temperature 0 "2+2?"

  llm run -t summarize -p length=short -f report.txt

  llm run --schema 'name, age int, city' "Alice, 31, lives in Lisbon."

  llm run --schema person.json -f bio.txt "Extract the person" | jq .name

  llm run --schema 'name, email' --batch -f signatures.txt > people.jsonl

  llm run --schema 'sender, topic' --batch --field body < mails.jsonl

  llm run --grammar yesno.gbnf "Is Lisbon in Portugal?"

  llm run -t invoice.toml < mail.txt      # a template that declares its schema

--schema takes a JSON Schema (inline, or a .json file) or the short form: fields separated
by commas (or lines), each NAME [TYPE][: description]; types str, int, float, bool, date,
list, list[int]..., a|b|c (one of these); NAME? is optional. The reply is constrained to the
schema while it is sampled, validated, and printed as one line of JSON; a reply that does not
validate exits 4 with the reason (its raw text on stderr). --batch: one JSON line per input
line, in order, `null` for a line that failed (its reason on stderr, exit 4 at the end).

  llm run -m Qwen/Qwen3-0.6B-GGUF --no-think "Capital of Peru?"

  llm run -m Qwen/Qwen3-0.6B-GGUF --show-thinking "Is 221 prime?" > out.txt

  llm run --endpoint http://127.0.0.1:8080 "2+2?"     # on an OpenAI-compatible server
"""


@o.shared(*o.MODEL_COMMAND, o.SHOW_THINKING)
def run(
    ctx: typer.Context,
    prompt: Annotated[
        Optional[str], typer.Argument(help="Instruction or question.", show_default=False)
    ] = None,
    files: o.Files = None,
    system: o.System = None,
    template: o.TemplateName = None,
    params: o.Params = None,
    schema: o.SchemaSpec = None,
    grammar: o.GrammarFile = None,
    batch: o.BatchLines = False,
    field: o.JsonField = None,
    *,
    flags: RunFlags,
) -> None:
    """Generate a reply to PROMPT. Text piped on stdin (or -f FILE) is the material the
    prompt applies to. With --schema the reply is JSON that matches it (validated; stdout
    carries only the JSON), with --batch one JSON object per input line."""
    from llmcli.cli import structured
    from llmcli.inputs import read_inputs
    from llmcli.prompts import load_template, parse_params
    from llmcli.runtime import generation_options

    env, settings = setup(ctx, flags)
    tmpl = load_template(template or "run", env)
    shape = structured.shape(schema, grammar, tmpl, batch=batch, field=field)
    params_given = parse_params(params or [])

    render = partial(_render, tmpl, template, params_given, prompt, system)

    opts = shape.options(generation_options(tmpl.settings, settings, think=flags.think))
    if batch:
        lines, total = structured.batch_lines(env, files, field)
        with model_loader(env, settings).open() as loaded:
            extractor = _extractor(loaded.engine, shape, opts)
            structured.run_batch(env, extractor, lines, total, render, json_out=flags.json)
        return
    messages = render(read_inputs(env, files))
    with model_loader(env, settings).open() as loaded:
        if shape.schema is not None:
            extractor = _extractor(loaded.engine, shape, opts)
            structured.show_one(env, loaded, tmpl.name, extractor, messages, json_out=flags.json)
            return
        _generate(
            env,
            loaded,
            tmpl.name,
            messages,
            opts,
            json_out=flags.json,
            show_thinking=flags.show_thinking,
        )


def _render(
    tmpl: Template,
    template: str | None,
    params: dict[str, str],
    prompt: str | None,
    system: str | None,
    material: str | None,
) -> list[Message]:
    """The messages for one input: a template given with -t fills its declared variables;
    the default run template takes the prompt, the input and the system text."""
    values = dict(params)
    if template is None:
        if not (prompt or "").strip() and not (material or "").strip():
            raise InputError("nothing to do: give a prompt, pipe text on stdin, or use -f FILE")
        values.update(prompt=prompt or "", input=material or "", system=system or "")
    else:
        _fill_template_input(tmpl.name, set(tmpl.variables), values, prompt, material)
    if template and system is not None:
        values.setdefault("system", system)
    return tmpl.render(values)


def _extractor(engine: Engine, shape: Shape, opts: GenerationOptions) -> Extractor:
    from llmcli.tasks.extract import Extractor

    assert shape.schema is not None
    return Extractor(engine, shape.schema, opts)


def _generate(
    env: Environment,
    loaded: LoadedModel,
    template: str,
    messages: list[Message],
    opts: GenerationOptions,
    *,
    json_out: bool,
    show_thinking: bool = False,
) -> None:
    from llmcli.engine import check_fits

    check_fits(loaded.engine, messages, opts)
    events = loaded.engine.stream(messages, opts)
    if json_out:
        from llmcli.engine import join_stream
        from llmcli.errors import StreamBrokenError
        from llmcli.output import emit_json, json_envelope

        try:
            done = join_stream(events)
        except StreamBrokenError as exc:  # a server died mid-reply: keep what it said
            emit_json(env, json_envelope(exc.partial, loaded, template, {}, error=exc.message))
            raise
        timings = done.stats.as_dict()
        envelope = json_envelope(done.text, loaded, template, timings, reasoning=done.reasoning)
        emit_json(env, envelope)
        _repetition_notice(env, done.stats)
        return
    from llmcli.output import notice, stats_line
    from llmcli.output.stream import pump, text_sink

    sink = text_sink(env, show_thinking=show_thinking, hint="--show-thinking shows it")
    _, stats = pump(events, sink)
    if stats and (env.verbose or stats.finish_reason == "length"):
        notice(env, stats_line(stats))
    _repetition_notice(env, stats)


def _repetition_notice(env: Environment, stats: Stats | None) -> None:
    from llmcli.output import REPETITION_NOTE, notice

    if stats is not None and stats.finish_reason == "repetition":
        notice(env, REPETITION_NOTE)


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
