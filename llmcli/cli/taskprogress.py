"""Progress of summarize/translate on stderr: a Rich bar in a terminal, a line per stage in a pipe.

The task modules call it through their `progress` and `warn` callbacks; they never print.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from llmcli.env import Environment
from llmcli.render import notice
from llmcli.tasks import Progress


class TaskProgress:
    """A context manager that is also the task's progress and warning callback."""

    def __init__(self, env: Environment, *, bar: bool, unit: str = "parts") -> None:
        self.env = env
        self.use_bar = bar and bool(env.stderr_isatty)
        self.unit = unit
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
            self.bar.update(self.task, completed=p.done, total=p.total or None)

    def _new_stage(self, p: Progress) -> None:
        label = p.stage if p.round <= 1 else f"{p.stage} (round {p.round})"
        if self.use_bar:
            if self.bar is None:
                self._start_bar()
            self.task = self.bar.add_task(label, total=p.total or None)
        elif p.total > 1 and self.unit:
            notice(self.env, f"{label}: {p.total:,} {self.unit}")

    def _start_bar(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        from llmcli.render import make_console

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=make_console(self.env, stderr=True),
            transient=True,
        )
        self.bar.start()

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
