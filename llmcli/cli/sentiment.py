"""`llm sentiment`: label probabilities for one text, a batch of lines, or an eval file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from llmcli.cli import options as o
from llmcli.cli.context import model_loader, setup
from llmcli.cli.options import RunFlags
from llmcli.env import Environment
from llmcli.errors import InputError, UsageError

if TYPE_CHECKING:
    from llmcli.tasks import WarnFn
    from llmcli.tasks.fanout import Mapper
    from llmcli.tasks.sentiment import Classifier

EPILOG = """\
Examples:

  llm sentiment "I love this phone"

  llm sentiment --labels bug,feature,question "The app crashes when I save"

  llm sentiment --json --threshold 0.7 review.txt

  llm sentiment --batch reviews.txt > labels.tsv

  llm sentiment --batch --json --field body < tickets.jsonl

  llm sentiment --eval dev.tsv --labels positive,negative

Labels are scored, not generated: each one's log-probability as the model's answer gives a
probability distribution over them. --batch prints one line per input line, in order
(label<TAB>score; an empty line for an empty or failed line, the reason on stderr).
--eval reads text<TAB>label rows and reports accuracy, macro-F1, per-label precision and
recall, and the confusion matrix.
"""

Labels = Annotated[
    Optional[str],
    typer.Option(
        "--labels",
        "-l",
        help="Comma-separated labels [default: positive,negative,neutral; --eval: the file's].",
        show_default=False,
    ),
]
Threshold = Annotated[
    float,
    typer.Option(
        "--threshold", min=0.0, max=1.0, help="Below this top probability, the label is uncertain."
    ),
]
Batch = Annotated[bool, typer.Option("--batch", "-b", help="One text per line of FILE or stdin.")]
Field = Annotated[
    Optional[str],
    typer.Option(
        "--field", help="With --batch: read JSONL, the text in this field.", show_default=False
    ),
]
Calibrate = Annotated[
    bool,
    typer.Option(
        "--calibrate/--no-calibrate",
        help="Divide out the label bias the prompt alone gives (scored on content-free texts).",
    ),
]
EvalFile = Annotated[
    Optional[Path],
    typer.Option(
        "--eval", help="Evaluate on a text<TAB>label file.", show_default=False, dir_okay=False
    ),
]


@o.shared(o.MODEL, o.RUNTIME, o.JSON, o.VERBOSE, o.DEBUG, o.FANOUT)
def sentiment(
    ctx: typer.Context,
    source: Annotated[
        Optional[str],
        typer.Argument(
            metavar="[TEXT|FILE]",
            help="Text, or a file to read (default: stdin).",
            show_default=False,
        ),
    ] = None,
    labels: Labels = None,
    threshold: Threshold = 0.0,
    batch: Batch = False,
    field: Field = None,
    eval_file: EvalFile = None,
    calibrate: Calibrate = True,
    template: o.TemplateName = None,
    *,
    flags: RunFlags,
) -> None:
    """Classify the sentiment of TEXT (or a file, or stdin) by scoring each label."""
    from functools import partial

    from llmcli.cli import sentiment_output as out
    from llmcli.cli.lanes import open_mapper
    from llmcli.engine import scorer
    from llmcli.inputs import read_file
    from llmcli.output.progress import TaskProgress
    from llmcli.prompts import load_template
    from llmcli.tasks import sentiment as task

    env, settings = setup(ctx, flags)
    if field is not None and not batch:
        raise UsageError("--field reads JSONL lines: use it with --batch")
    if eval_file is not None and (batch or source is not None):
        raise UsageError("--eval reads its own file: give no TEXT and no --batch")
    label_set = task.parse_labels(labels)
    tmpl = load_template(template or task.TEMPLATE, env)
    if eval_file is not None:
        rows = task.parse_eval(read_file(eval_file), str(eval_file))
        label_set = task.eval_labels(rows, label_set if labels else None)
    text = None if batch or eval_file else _single_text(env, source)
    loader = model_loader(env, settings)
    with loader.open() as loaded:
        engine = scorer(loaded.engine)  # one clear line when this backend cannot score
        task.check_labels(engine, label_set)
        classifier = task.Classifier(engine, tmpl, label_set, threshold, calibrate)
        mappers = partial(open_mapper, env, loader, loaded, flags)
        if eval_file is not None:
            with TaskProgress(env, bar=True, unit="") as progress, mappers(progress.warn) as fan:
                report = task.evaluate(classifier, rows, progress, fan)
            out.show_report(env, report, loaded.spec, json_out=flags.json)
        elif batch:
            _run_batch(env, classifier, source, field, flags.json, mappers)
        else:
            assert text is not None
            out.show_single(env, classifier, text, loaded.spec, json_out=flags.json)


def _run_batch(
    env: Environment,
    classifier: Classifier,
    source: str | None,
    field: str | None,
    json_out: bool,
    mappers: Callable[[WarnFn], AbstractContextManager[Mapper]],
) -> None:
    from llmcli.cli import sentiment_output as out
    from llmcli.inputs import read_file, split_lines, stdin_lines
    from llmcli.output.progress import TaskProgress
    from llmcli.tasks.sentiment import jsonl_texts

    if source is not None:
        lines: list[str | InputError] = list(split_lines(read_file(Path(source))))
        total = len(lines)
        stream: Iterator[str | InputError] = iter(lines)
    else:
        if env.stdin_isatty:
            raise InputError("--batch reads lines from a FILE or stdin; got neither")
        stream, total = stdin_lines(env), 0
    if field is not None:
        stream = jsonl_texts(stream, field)
    # A bar only for a file whose results go elsewhere: on a terminal, the lines are the progress.
    show_bar = source is not None and not env.stdout_isatty
    with TaskProgress(env, bar=show_bar, unit="") as progress, mappers(progress.warn) as fan:
        results = classifier.classify_lines(stream, progress, total, fan)
        failed = out.write_batch(env, results, json_out=json_out)
    if failed:
        shown = ", ".join(str(n) for n in failed[:5]) + (", ..." if len(failed) > 5 else "")
        which = "line" if len(failed) == 1 else "lines"
        raise InputError(f"could not classify {len(failed)} {which} ({which} {shown})")


def _single_text(env: Environment, source: str | None) -> str:
    from llmcli.inputs import text_or_files

    text = text_or_files(env, [source] if source is not None else [], None)
    if text is None:
        raise InputError("nothing to classify: give a text or a file, or pipe text on stdin")
    if not text.strip():
        raise InputError("nothing to classify: the text is empty")
    return text


def register(app: typer.Typer) -> None:
    app.command("sentiment", epilog=EPILOG)(sentiment)
