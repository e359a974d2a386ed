"""`llm translate`: text, files or stdin into another language, layout kept, streamed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from llmcli.cli import options as o
from llmcli.cli.common import generation_options, open_model, read_file, read_inputs, setup
from llmcli.errors import InputError, UsageError

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
_FILE_LIKE = re.compile(r"^[^\s]+\.[A-Za-z0-9]{1,5}$")


def translate(
    ctx: typer.Context,
    inputs: Annotated[
        Optional[list[str]],
        typer.Argument(
            help="Text to translate, or files (default: stdin).",
            metavar="TEXT|FILE",
            show_default=False,
        ),
    ] = None,
    to: Annotated[
        Optional[str],
        typer.Option("--to", help="Target language (code or name).", show_default=False),
    ] = None,
    source: Annotated[
        Optional[str],
        typer.Option(
            "--from", help="Source language (default: the model tells).", show_default=False
        ),
    ] = None,
    lines: Annotated[
        bool, typer.Option("--lines", help="One output line per input line, for scripts.")
    ] = False,
    batch: Annotated[
        Optional[int],
        typer.Option(
            "--batch",
            min=1,
            max=64,
            help="Lines per model call with --lines [default: 8, or as many as this model "
            "managed last time].",
            show_default=False,
        ),
    ] = None,
    unit: Annotated[
        str,
        typer.Option(
            "--unit",
            help="What one model call translates: sentence (best for small models) or "
            "paragraph (more context for big ones).",
        ),
    ] = "sentence",
    files: o.Files = None,
    model: o.Model = None,
    template: o.TemplateName = None,
    params: o.Params = None,
    temperature: o.Temperature = None,
    max_tokens: o.MaxTokens = None,
    seed: o.Seed = None,
    n_ctx: o.Ctx = None,
    gpu_layers: o.GpuLayers = None,
    threads: o.Threads = None,
    json_out: o.Json = False,
    verbose: o.Verbose = False,
    debug: o.Debug = False,
) -> None:
    """Translate TEXT, FILES or stdin into the --to language, keeping the layout."""
    from llmcli.cli.taskprogress import TaskProgress
    from llmcli.hints import load_hint, save_hint
    from llmcli.prompts import load_template, parse_params
    from llmcli.tasks.languages import resolve_language
    from llmcli.tasks.translate import BATCH, UNITS, Translator

    env, settings = setup(ctx)
    if unit not in UNITS:
        raise UsageError(f"--unit must be one of {', '.join(UNITS)}, got {unit!r}")
    if to is None:
        raise UsageError("--to is required: the language to translate into, e.g. --to pt")
    target = resolve_language(to, option="--to")
    origin = resolve_language(source, option="--from") if source is not None else None
    tmpl = load_template(template or "translate", env)
    lines_tmpl = load_template("translate-lines", env)
    extra = parse_params(params or [])
    _check_template(tmpl, extra)
    text = _read_text(env, inputs, files)
    opts = generation_options(tmpl.settings, settings)
    with (
        open_model(env, settings) as loaded,
        TaskProgress(env, bar=not env.stdout_isatty and not json_out, unit="") as progress,
    ):
        start = batch or load_hint(env.cache_dir, loaded.path, HINT) or BATCH
        job = Translator(
            loaded.engine,
            tmpl,
            lines_tmpl,
            target,
            origin,
            opts,
            batch=start,
            unit=unit,
            progress=progress,
            warn=progress.warn,
            params=extra,
        )
        pieces = job.lines(text) if lines else job.document(text)
        if json_out:
            out = list(pieces)
            done = "\n".join(out) if lines else "".join(out)
        else:
            done = _stream(env, pieces, lines)
        if lines and batch is None and job.batch != start:  # it needed smaller batches
            save_hint(env.cache_dir, loaded.path, HINT, job.batch)
        engine = loaded.engine
        counts = {
            "input_tokens": engine.count_tokens(text),
            "output_tokens": engine.count_tokens(done),
        }
    if json_out:
        from llmcli.render import emit_json

        data: dict[str, Any] = {
            "text": done,
            "model": loaded.spec,
            "model_path": str(loaded.path),
            "template": tmpl.name,
            "source_language": origin.tag if origin else None,
            "target_language": target.tag,
            **counts,
            "timings": job.timings(),
            "warnings": progress.warnings,
        }
        if lines:
            data["lines"] = out
        emit_json(env, data)


def _stream(env: Any, pieces: Any, lines: bool) -> str:
    """Write pieces as they finish; in line mode each is one line."""
    from llmcli.render import PlainSink

    sink = PlainSink(env.stdout)
    parts: list[str] = []
    try:
        for piece in pieces:
            parts.append(piece)
            sink.write(piece + "\n" if lines else piece)
    finally:
        sink.finish()
    return "\n".join(parts) if lines else "".join(parts)


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


def _read_text(env: Any, inputs: list[str] | None, files: list[Path] | None) -> str:
    """Arguments that are files are read; otherwise the arguments are the text itself."""
    args = inputs or []
    paths = [Path(a) for a in args if Path(a).is_file()]
    if args and len(paths) == len(args):
        text: str | None = "\n\n".join(read_file(p) for p in [*paths, *(files or [])])
    elif paths:
        raise InputError("give either text or files as arguments, not both")
    elif args:
        if len(args) == 1 and _FILE_LIKE.match(args[0]) and not files:
            raise InputError(f"no such file: {args[0]}", hint="quote text to translate it")
        text = " ".join(args)
        if files:
            raise InputError("give either text arguments or -f files, not both")
    else:
        text = read_inputs(env, files)
    if text is None or not text.strip():
        raise InputError("nothing to translate: give text, FILE arguments, or pipe text on stdin")
    return text


def register(app: typer.Typer) -> None:
    app.command("translate", epilog=EPILOG)(translate)
