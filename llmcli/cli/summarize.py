"""`llm summarize`: the summary of files or stdin, of any length (map-reduce past the context)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from llmcli.cli import options as o
from llmcli.cli.context import model_loader, setup
from llmcli.cli.options import RunFlags
from llmcli.errors import InputError, TemplateError

if TYPE_CHECKING:
    from llmcli.prompts import Template
    from llmcli.runtime import LoadedModel
    from llmcli.tasks.languages import Lang
    from llmcli.tasks.summarize import Summary

EPILOG = """\
Examples:

  cat report.txt | llm summarize

  llm summarize notes.md --length short

  llm summarize book.txt --words 200 --format bullets

  llm summarize article.txt --lang pt --json

  llm summarize -t my-summary -p audience=kids story.txt

Input longer than the context is cut at paragraph and sentence boundaries, each part is
summarized, and the partial summaries are combined (again, until they fit): every word is
read. Progress goes to stderr; stdout gets the summary only.
"""


class Length(str, Enum):
    short = "short"
    medium = "medium"
    long = "long"


class Format(str, Enum):
    paragraph = "paragraph"
    bullets = "bullets"


FileArgs = Annotated[
    Optional[list[Path]],
    typer.Argument(help="Files to summarize (default: stdin).", metavar="FILE", show_default=False),
]
LengthOpt = Annotated[
    Length,
    typer.Option(
        "--length",
        "-l",
        help="short: 1-2 sentences (35 words at most), medium: 2-3 (65), long: paragraphs.",
    ),
]
Words = Annotated[
    Optional[int],
    typer.Option("--words", "-w", min=1, help="Target length in words.", show_default=False),
]
FormatOpt = Annotated[Format, typer.Option("--format", help="A paragraph or bullet points.")]
LangOpt = Annotated[
    Optional[str],
    typer.Option("--lang", help="Language of the summary (code or name).", show_default=False),
]


@o.shared(*o.MODEL_COMMAND, o.FANOUT)
def summarize(
    ctx: typer.Context,
    files: FileArgs = None,
    length: LengthOpt = Length.medium,
    words: Words = None,
    fmt: FormatOpt = Format.paragraph,
    lang: LangOpt = None,
    template: o.TemplateName = None,
    params: o.Params = None,
    *,
    flags: RunFlags,
) -> None:
    """Summarize FILES (or text piped on stdin), however long."""
    from dataclasses import replace

    from llmcli.cli.lanes import open_mapper
    from llmcli.inputs import read_inputs
    from llmcli.output.progress import TaskProgress
    from llmcli.prompts import load_template
    from llmcli.runtime import generation_options
    from llmcli.tasks.languages import resolve_language
    from llmcli.tasks.summarize import answer_tokens, word_budget
    from llmcli.tasks.summarize import summarize as run_summary

    env, settings = setup(ctx, flags)
    summary_lang = resolve_language(lang, option="--lang") if lang is not None else None
    tmpl = load_template(template or "summarize", env)
    combine = load_template("summarize-combine", env)
    values = _values(tmpl, length, words, fmt, summary_lang, params or [])
    text = read_inputs(env, files)
    if text is None or not text.strip():
        raise InputError("nothing to summarize: give FILE arguments or pipe text on stdin")
    opts = generation_options(tmpl.settings, settings, think=flags.think)
    if settings.max_tokens is None:
        opts = replace(opts, max_tokens=answer_tokens(length.value, words))
    loader = model_loader(env, settings)
    with (
        loader.open() as loaded,
        TaskProgress(env, bar=True) as bar,
        open_mapper(env, loader, loaded, flags, bar.warn) as fan,
    ):
        result = run_summary(
            loaded.engine,
            text,
            template=tmpl,
            combine=combine,
            values=values,
            options=opts,
            progress=bar,
            warn=bar.warn,
            mapper=fan,
            max_words=word_budget(length.value, words, fmt.value),
        )
    if flags.json:
        from llmcli.output import emit_json

        emit_json(env, _json(result, loaded, tmpl.name, summary_lang))
        return
    _print(env, result.text)


def _values(
    tmpl: Template,
    length: Length,
    words: int | None,
    fmt: Format,
    lang: Lang | None,
    params: list[str],
) -> dict[str, Any]:
    """The template's variables: what the options asked for, then -p values."""
    from llmcli.prompts import parse_params

    asked = {"length": length.value, "words": str(words) if words else "", "format": fmt.value}
    asked["lang"] = lang.name if lang else ""
    return template_values(tmpl, asked, parse_params(params))


def _json(result: Summary, loaded: LoadedModel, template: str, lang: Lang | None) -> dict[str, Any]:
    from llmcli.output import json_envelope

    return json_envelope(
        result.text,
        loaded,
        template,
        result.timings(),
        language=lang.tag if lang else None,
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        parts=result.parts,
        rounds=result.rounds,
    )


def template_values(tmpl: Any, flags: dict[str, str], params: dict[str, str]) -> dict[str, str]:
    """Flags the template declares, then -p values; checked before the model loads."""
    if "text" not in tmpl.variables:
        raise TemplateError(
            f"template {tmpl.name!r} has no 'text' variable to receive the input",
            hint="declare [variables.text] and use {{ text }} in its user message",
        )
    values = {k: v for k, v in flags.items() if k in tmpl.variables and v}
    values.update(params)
    tmpl.render({**values, "text": "check"})  # unknown parameter, bad choice, Jinja error
    return values


def _print(env: Any, text: str) -> None:
    if env.stdout_isatty:
        from rich.markdown import Markdown

        from llmcli.output import make_console

        make_console(env).print(Markdown(text))
    else:
        env.stdout.write(text + "\n")
        env.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command("summarize", epilog=EPILOG)(summarize)
