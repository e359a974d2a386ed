"""Progress on stderr, the one place for it: downloads (bytes) and long jobs (steps).

A Rich bar in a terminal; in a pipe or log, a few plain lines. The core reports through
callbacks (`models.hub.Progress`, `tasks.ProgressFn`); it never prints."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from llmcli.env import Environment
from llmcli.output import human_size, make_console, notice

if TYPE_CHECKING:
    from llmcli.tasks import Progress

PLAIN_EVERY_S = 2.0  # plain lines: at most one per this many seconds (plus 25% steps)


Verbs = tuple[str, str]  # what the plain lines say: while going, and once done
DOWNLOADING: Verbs = ("downloading", "downloaded")
CHECKING: Verbs = ("checking", "checked")  # hashing cached files


def make_progress(env: Environment, verbs: Verbs = DOWNLOADING) -> RichProgress | PlainProgress:
    if env.stderr_isatty:
        return RichProgress(env)
    return PlainProgress(env, verbs=verbs)


class PlainProgress:
    """`llm: downloading X: 42% (41.3 MB of 98.4 MB, 35.1 MB/s)`, a few lines per file."""

    def __init__(
        self, env: Environment, clock: Any = time.monotonic, verbs: Verbs = DOWNLOADING
    ) -> None:
        self.env = env
        self.clock = clock
        self.verbs = verbs
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
        self.notice(f"{self.verbs[0]} {label} ({human_size(total)})")

    def advance(self, nbytes: int) -> None:
        self.done += nbytes
        now = self.clock()
        step = self.done * 4 // self.total if self.total else 0
        if (
            step > self.last_step and self.done < self.total
        ) or now - self.last_line >= PLAIN_EVERY_S:
            self.last_step, self.last_line = max(step, self.last_step), now
            self.notice(f"{self.verbs[0]} {self.label}: {self._status(now)}")

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
            done = f"{human_size(self.done)} in {elapsed:.1f} s"
            self.notice(f"{self.verbs[1]} {self.label} ({done})")


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
        from rich.progress import DownloadColumn, TransferSpeedColumn

        self.bar = _bar(self.env, "bytes", DownloadColumn(), TransferSpeedColumn())
        self.task = self.bar.add_task(label, total=total or None)

    def advance(self, nbytes: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, nbytes)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


class TaskProgress:
    """Steps of a long job (summarize parts, translated pieces, classified lines): a context
    manager that is also the task's progress and warning callback."""

    def __init__(self, env: Environment, *, bar: bool, unit: str = "parts") -> None:
        self.env = env
        self.use_bar = bar and bool(env.stderr_isatty)
        self.unit = unit  # "": no plain lines in a pipe
        self.bar: Any = None
        self.task: Any = None
        self.stage: tuple[str, int] | None = None
        self.warnings: list[str] = []

    def __enter__(self) -> TaskProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __call__(self, p: Progress) -> None:
        if (p.stage, p.round) != self.stage:
            self.stage = (p.stage, p.round)
            self._new_stage(p)
        if self.bar is not None:
            label = _label(p) + (f" · {p.detail}" if p.detail else "")  # per-server rates
            self.bar.update(
                self.task, completed=p.done, total=p.total or None, description=label, refresh=True
            )

    def _new_stage(self, p: Progress) -> None:
        label = _label(p)
        if self.use_bar:
            if self.bar is None:
                from rich.progress import MofNCompleteColumn

                self.bar = _bar(self.env, "steps", MofNCompleteColumn(), transient=True)
            self.task = self.bar.add_task(label, total=p.total or None)
        elif p.total > 1 and self.unit:
            notice(self.env, f"{label}: {p.total:,} {self.unit}")

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        if self.bar is not None:
            from rich.markup import escape

            self.bar.console.print(f"llm: warning: {escape(message)}", highlight=False)
        else:
            notice(self.env, f"warning: {message}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _label(p: Progress) -> str:
    return p.stage if p.round <= 1 else f"{p.stage} (round {p.round})"


def _bar(env: Environment, kind: str, *columns: Any, transient: bool = False) -> Any:
    """A started Rich bar on stderr: label, bar, the given columns, time left."""
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    label = TextColumn("[bold]{task.description}" if kind == "bytes" else "{task.description}")
    clock = TimeRemainingColumn() if kind == "bytes" else TimeElapsedColumn()
    bar = Bar(
        label,
        BarColumn(),
        *columns,
        clock,
        console=make_console(env, stderr=True),
        transient=transient,
    )
    bar.start()
    return bar
