"""Download progress on stderr: a Rich bar in a terminal, plain lines in a pipe or log."""

from __future__ import annotations

import time
from typing import Any

from llmcli.env import Environment
from llmcli.render import notice

PLAIN_EVERY_S = 2.0  # plain lines: at most one per this many seconds (plus 25% steps)


def human_size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def make_progress(env: Environment) -> RichProgress | PlainProgress:
    if env.stderr_isatty:
        return RichProgress(env)
    return PlainProgress(env)


class PlainProgress:
    """`llm: downloading X: 42% (41.3 MB of 98.4 MB, 35.1 MB/s)`, a few lines per file."""

    def __init__(self, env: Environment, clock: Any = time.monotonic) -> None:
        self.env = env
        self.clock = clock
        self.label = ""
        self.total = 0
        self.done = 0
        self.started = 0.0
        self.last_line = 0.0
        self.last_step = -1
        self.active = False

    def notice(self, message: str) -> None:
        notice(self.env, message)

    def start(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self.started = self.last_line = self.clock()
        self.last_step = 0
        self.active = True
        self.notice(f"downloading {label} ({human_size(total)})")

    def advance(self, nbytes: int) -> None:
        self.done += nbytes
        now = self.clock()
        step = self.done * 4 // self.total if self.total else 0
        if (
            step > self.last_step and self.done < self.total
        ) or now - self.last_line >= PLAIN_EVERY_S:
            self.last_step, self.last_line = max(step, self.last_step), now
            self.notice(f"downloading {self.label}: {self._status(now)}")

    def _status(self, now: float) -> str:
        rate = self.done / max(now - self.started, 1e-6)
        pct = f"{100 * self.done // self.total}% " if self.total else ""
        return f"{pct}({human_size(self.done)} of {human_size(self.total)}, {human_size(rate)}/s)"

    def stop(self) -> None:
        if not self.active:
            return
        self.active = False
        elapsed = self.clock() - self.started
        if self.total and self.done >= self.total:
            self.notice(f"downloaded {self.label} ({human_size(self.done)} in {elapsed:.1f} s)")


class RichProgress:
    """One bar per model: bytes, speed and time left, on stderr; cleared when done."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.bar: Any = None
        self.task: Any = None

    def notice(self, message: str) -> None:
        if self.bar is not None:
            self.bar.console.print(f"[dim]{message}[/dim]", markup=True, highlight=False)
        else:
            notice(self.env, message)

    def start(self, label: str, total: int) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        from llmcli.render import make_console

        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=make_console(self.env, stderr=True),
            transient=False,
        )
        self.bar.start()
        self.task = self.bar.add_task(label, total=total or None)

    def advance(self, nbytes: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, nbytes)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
