"""Output: Rich consoles, status and error lines, JSON. Streamed answers are in `stream.py`,
progress (downloads, long jobs) in `progress.py`. All of it goes through the Environment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from llmcli.env import Environment

if TYPE_CHECKING:
    from rich.console import Console

    from llmcli.engine import Stats
    from llmcli.runtime import LoadedModel


def make_console(env: Environment, *, stderr: bool = False) -> Console:
    from rich.console import Console

    stream: IO[str] = env.stderr if stderr else env.stdout
    tty = env.stderr_isatty if stderr else env.stdout_isatty
    return Console(
        file=stream,
        force_terminal=bool(tty),
        no_color=env.no_color,
        color_system=None if env.no_color else "auto",
        width=env.width,
        highlight=False,
        soft_wrap=not tty,
        emoji=False,
    )


def notice(env: Environment, message: str) -> None:
    """A progress or status line: stderr only, dim on a terminal."""
    if env.stderr_isatty and not env.no_color:
        from rich.markup import escape

        make_console(env, stderr=True).print(f"[dim]{escape(message)}[/dim]")
    else:
        env.stderr.write(f"llm: {message}\n")
        env.stderr.flush()


def error_line(env: Environment, message: str, hint: str | None = None) -> None:
    text = f"llm: error: {message}" + (f" ({hint})" if hint else "")
    if env.stderr_isatty and not env.no_color:
        from rich.markup import escape

        make_console(env, stderr=True).print(f"[bold red]llm: error:[/] {escape(text[12:])}")
    else:
        env.stderr.write(text + "\n")
        env.stderr.flush()


def emit_json(env: Environment, obj: Any) -> None:
    env.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    env.stdout.flush()


def json_envelope(
    text: str, loaded: LoadedModel, template: str, timings: Mapping[str, Any], **extra: Any
) -> dict[str, Any]:
    """The --json object of every command that generates text: the same keys everywhere."""
    return {
        "text": text,
        "model": loaded.spec,
        "model_path": str(loaded.path),
        "template": template,
        **({"endpoint": loaded.endpoint} if loaded.endpoint else {}),
        **extra,
        "timings": dict(timings),
    }


def stats_line(stats: Stats) -> str:
    return (
        f"{stats.prompt_tokens} prompt + {stats.generated_tokens} generated tokens, "
        f"{stats.tokens_per_s:.1f} tok/s, first token {stats.ttft_s:.2f}s"
        + ("" if stats.finish_reason == "stop" else f", stopped: {stats.finish_reason}")
    )


def human_size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def table(env: Environment, headers: list[str] | None, rows: list[list[str]]) -> None:
    """Rows as a Rich table on a terminal; aligned plain columns in a pipe (no rich import)."""
    if not env.stdout_isatty:  # a pipe: aligned columns, never folded, no trailing spaces
        lines = ([headers] if headers else []) + rows
        widths = (
            [max(len(line[i]) for line in lines) for i in range(len(lines[0]))] if lines else []
        )
        for line in lines:
            text = "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
            env.stdout.write(text.rstrip() + "\n")
        env.stdout.flush()
        return
    from rich.table import Table

    grid = Table(show_header=headers is not None, box=None, pad_edge=False, header_style="bold")
    for header in headers or [""] * len(rows[0] if rows else []):
        grid.add_column(header, overflow="fold")
    for row in rows:
        grid.add_row(*row)
    make_console(env).print(grid)


def human_count(n: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)
