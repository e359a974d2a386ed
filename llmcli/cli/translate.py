"""`llm translate`: text, files or stdin into another language, layout kept, streamed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from llmcli.cli import options as o
from llmcli.cli.context import model_loader, setup
from llmcli.cli.options import RunFlags
from llmcli.env import Environment
from llmcli.errors import InputError, UsageError

if TYPE_CHECKING:
    from llmcli.engine import GenerationOptions
    from llmcli.output.progress import TaskProgress
    from llmcli.prompts import Template
    from llmcli.runtime import LoadedModel
    from llmcli.tasks.fanout import Mapper
    from llmcli.tasks.languages import Lang

EPILOG = """\
Examples:

  llm translate --to pt "Good morning, everyone."

  llm translate README.md --to "Brazilian Portuguese" > README.pt-BR.md

  llm translate --to es --lines < strings.txt > strings.es.txt

  echo "Bonjour" | llm translate --to English --from fr --json

Languages: ISO codes (pt, pt-BR, por) or names in English or in the language itself
(Portuguese, português). Temperature is 0 by default: the same input gives the same output.
--lines translates every line on its own; the output has exactly as many lines, blank lines
kept, and a line the model cannot translate is reported on stderr and kept as it was.
Prose goes sentence by sentence (small models drop content from long pieces); with a big
model, --unit paragraph gives it whole paragraphs for context.
"""

HINT = "translate_lines_batch"  # the --lines batch size the model numbered back correctly

Inputs = Annotated[
    Optional[list[str]],
    typer.Argument(
        help="Text to translate, or files (default: stdin).",
        metavar="TEXT|FILE",
        show_default=False,
    ),
]
To = Annotated[
    Optional[str], typer.Option("--to", help="Target language (code or name).", show_default=False)
]
From = Annotated[
    Optional[str],
    typer.Option("--from", help="Source language (default: the model tells).", show_default=False),
]
Lines = Annotated[
    bool, typer.Option("--lines", help="One output line per input line, for scripts.")
]
Batch = Annotated[
    Optional[int],
    typer.Option(
        "--batch",
        min=1,
        max=64,
        help="Lines (--lines) or sentences per model call [default: 8; on a server, "
        "--lines batches as many as this model numbered back last time].",
        show_default=False,
    ),
]
Unit = Annotated[
    str,
    typer.Option(
        "--unit",
        help="What one model call translates: sentence (best for small models) or "
        "paragraph (more context for big ones).",
    ),
]


@o.shared(*o.MODEL_COMMAND, o.FANOUT)
def translate(
    ctx: typer.Context,
    inputs: Inputs = None,
    to: To = None,
    source: From = None,
    lines: Lines = False,
    batch: Batch = None,
    unit: Unit = "sentence",
    files: o.Files = None,
    template: o.TemplateName = None,
    params: o.Params = None,
    *,
    flags: RunFlags,
) -> None:
    """Translate TEXT, FILES or stdin into the --to language, keeping the layout."""
    from llmcli.cli.lanes import open_mapper
    from llmcli.engine import BATCH_SEQUENCES
    from llmcli.inputs import text_or_files
    from llmcli.output.progress import TaskProgress
    from llmcli.prompts import load_template, parse_params
    from llmcli.runtime import generation_options
    from llmcli.tasks.languages import resolve_language
    from llmcli.tasks.translate import UNITS

    env, settings = setup(ctx, flags)
    if unit not in UNITS:
        raise UsageError(f"--unit must be one of {', '.join(UNITS)}, got {unit!r}")
    if to is None:
        raise UsageError("--to is required: the language to translate into, e.g. --to pt")
    target = resolve_language(to, option="--to")
    origin = resolve_language(source, option="--from") if source is not None else None
    tmpl = load_template(template or "translate", env)
    extra = parse_params(params or [])
    _check_template(tmpl, extra)
    text = text_or_files(env, inputs or [], files)
    if text is None or not text.strip():
        raise InputError("nothing to translate: give text, FILE arguments, or pipe text on stdin")
    job = Job(tmpl, load_template("translate-lines", env), target, origin, extra, unit, batch)
    opts = generation_options(tmpl.settings, settings, think=flags.think)
    loader = model_loader(env, settings, sequences=BATCH_SEQUENCES)  # lines decoded together
    with (
        loader.open() as loaded,
        TaskProgress(env, bar=not env.stdout_isatty and not flags.json, unit="") as progress,
        open_mapper(env, loader, loaded, flags, progress.warn) as fan,
    ):
        result = _translate(
            env, loaded, job, opts, progress, text, fan, lines=lines, json=flags.json
        )
    if flags.json:
        from llmcli.output import emit_json

        emit_json(env, result)


@dataclass(frozen=True)
class Job:
    """What the command line asked for, checked before the model loads."""

    template: Template
    lines_template: Template
    target: Lang
    origin: Lang | None
    params: dict[str, str]
    unit: str
    batch: int | None  # --batch; None: the remembered or default size


def _translate(
    env: Environment,
    loaded: LoadedModel,
    job: Job,
    opts: GenerationOptions,
    progress: TaskProgress,
    text: str,
    mapper: Mapper,
    *,
    lines: bool,
    json: bool,
) -> dict[str, Any]:
    """Run the translation (streamed unless --json); the --json object when asked."""
    from llmcli.hints import save_hint
    from llmcli.output import json_envelope
    from llmcli.tasks.translate import BATCH, Translator

    start = job.batch or _remembered(env, loaded) or BATCH
    translator = Translator(
        loaded.engine,
        job.template,
        job.lines_template,
        job.target,
        job.origin,
        opts,
        batch=start,
        unit=job.unit,
        progress=progress,
        warn=progress.warn,
        params=job.params,
        mapper=mapper,
    )
    pieces = translator.lines(text) if lines else translator.document(text)
    out = list(pieces) if json else _stream(env, pieces, lines)
    done = "\n".join(out) if lines else "".join(out)
    if lines and job.batch is None and translator.batch != start:  # numbered rows went wrong
        save_hint(env.cache_dir, loaded.path, HINT, translator.batch)
    if not json:
        return {}
    return json_envelope(
        done,
        loaded,
        job.template.name,
        translator.timings(),
        source_language=job.origin.tag if job.origin else None,
        target_language=job.target.tag,
        input_tokens=loaded.engine.count_tokens(text),
        output_tokens=loaded.engine.count_tokens(done),
        warnings=progress.warnings,
        **({"lines": out} if lines else {}),
    )


def _remembered(env: Environment, loaded: Any) -> int | None:
    """The --lines batch size this model numbered back last time; an engine that decodes
    prompts together sends each line alone, so nothing can go wrong to remember."""
    from llmcli.engine import together
    from llmcli.hints import load_hint

    if together(loaded.engine) > 1:
        return None
    return load_hint(env.cache_dir, loaded.path, HINT)


def _stream(env: Environment, pieces: Iterator[str], lines: bool) -> list[str]:
    """Write pieces as they finish; in line mode each is one line."""
    from llmcli.output.stream import PlainSink

    sink = PlainSink(env.stdout)
    parts: list[str] = []
    try:
        for piece in pieces:
            parts.append(piece)
            sink.write(piece + "\n" if lines else piece)
    finally:
        sink.finish()
    return parts


def _check_template(tmpl: Any, params: dict[str, str]) -> None:
    """Catch a bad -t or -p before the model loads."""
    from llmcli.errors import TemplateError

    missing = [v for v in ("text", "target") if v not in tmpl.variables]
    if missing:
        raise TemplateError(
            f"template {tmpl.name!r} has no {missing[0]!r} variable; translate fills "
            "'text' and 'target' (and 'source', 'target_code' when declared)"
        )
    tmpl.render({**params, "text": "check", "target": "check"})


def register(app: typer.Typer) -> None:
    app.command("translate", epilog=EPILOG)(translate)
