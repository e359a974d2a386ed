"""What `llm sentiment` shows: one label, batch lines, an evaluation report."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from llmcli.env import Environment
from llmcli.output import emit_json, make_console

if TYPE_CHECKING:
    from llmcli.tasks.sentiment import Classifier, EvalReport, LineResult, Prediction


def show_single(
    env: Environment, classifier: Classifier, text: str, model: str, *, json_out: bool
) -> None:
    start = time.perf_counter()
    prediction = classifier.classify(text)
    seconds = time.perf_counter() - start
    if json_out:
        prompt_tokens = classifier.engine.count_prompt_tokens(classifier.messages(text))
        timings = {"prompt_tokens": prompt_tokens, "total_s": round(seconds, 4)}
        emit_json(env, {**prediction.as_dict(), "model": model, "timings": timings})
    elif env.stdout_isatty:
        _show_rich(env, prediction)
    else:
        env.stdout.write(prediction.label + "\n")
        env.stdout.flush()


def _show_rich(env: Environment, prediction: Prediction) -> None:
    from rich.markup import escape

    console = make_console(env)
    console.print(f"[bold]{escape(prediction.label)}[/bold] [dim]{prediction.score:.2f}[/dim]")
    width = 20
    for label, p in sorted(prediction.probs.items(), key=lambda kv: -kv[1]):
        bar = "█" * round(p * width)
        console.print(f"  {escape(label):<12} [cyan]{bar:<{width}}[/cyan] {p:.2f}")


def write_batch(env: Environment, results: Iterable[LineResult], *, json_out: bool) -> list[int]:
    """Each result as it finishes, flushed; returns the numbers of the lines that failed."""
    failed: list[int] = []
    for result in results:
        if result.error is not None:
            failed.append(result.line)
            _line_error(env, result.line, result.error)
        if json_out:
            emit_json(env, _line_json(result))
            continue
        pred = result.prediction
        env.stdout.write(f"{pred.label}\t{pred.score:.4f}\n" if pred else "\n")
        env.stdout.flush()
    return failed


def _line_json(result: LineResult) -> dict[str, Any]:
    if result.prediction is not None:
        return {"line": result.line, **result.prediction.as_dict()}
    if result.error is not None:
        return {"line": result.line, "label": None, "error": result.error}
    return {"line": result.line, "label": None}


def _line_error(env: Environment, line: int, message: str) -> None:
    env.stderr.write(f"llm: error: line {line}: {message}\n")
    env.stderr.flush()


def show_report(env: Environment, report: EvalReport, model: str, *, json_out: bool) -> None:
    if json_out:
        emit_json(env, {**report.as_dict(), "model": model})
        return
    from rich.table import Table

    console = make_console(env)
    data = report.as_dict()
    summary = Table(title="evaluation", show_header=False)
    summary.add_column()
    summary.add_column(justify="right")
    for name, value in (
        ("texts", str(report.n)),
        ("model", model),
        ("accuracy", f"{report.accuracy:.3f}"),
        ("macro-F1", f"{report.macro_f1:.3f}"),
        ("uncertain", str(data["uncertain"])),
        ("errors", str(report.errors)),
        ("texts/s", f"{data['texts_per_s'] or 0:.1f}"),
    ):
        summary.add_row(name, value)
    console.print(summary)
    per_label = Table("label", *(_num(h) for h in ("precision", "recall", "F1", "support")))
    for label, s in report.per_label().items():
        per_label.add_row(
            label, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", str(s.support)
        )
    console.print(per_label)
    matrix = report.confusion()
    columns = list(next(iter(matrix.values())))
    confusion = Table("gold \\ predicted", *(_num(c) for c in columns), title="confusion matrix")
    for gold, row in matrix.items():
        confusion.add_row(gold, *(str(row[c]) for c in columns))
    console.print(confusion)


def _num(header: str) -> Any:
    from rich.table import Column

    return Column(header, justify="right")
