"""Streamed answers: markdown rendered live on a terminal, plain text flushed per chunk in a pipe."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Protocol

from llmcli.env import Environment
from llmcli.output import make_console

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

    from llmcli.engine import Chunk, Stats


class TextSink(Protocol):
    def write(self, text: str) -> None: ...
    def finish(self) -> None: ...


class PlainSink:
    """Pipes get the text as it comes, flushed per chunk, and a final newline."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.last = ""

    def write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
        self.last = text[-1:] or self.last

    def finish(self) -> None:
        if self.last and self.last != "\n":
            self.stream.write("\n")
        self.stream.flush()


class _Tail:
    """While streaming, show the bottom of the rendered markdown so long answers scroll."""

    def __init__(self, parts: list[str]) -> None:
        self.parts = parts  # joined at render time (a few times a second), not per token

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.markdown import Markdown
        from rich.segment import Segment

        height = max(1, console.size.height - 1)
        text = _tail_source("".join(self.parts), 2 * height)
        lines = console.render_lines(Markdown(text), options, pad=False)
        for line in lines[-height:]:
            yield from line
            yield Segment.line()


def _tail_source(text: str, keep: int) -> str:
    """The last `keep` source lines, so a live frame costs the same at token 10 and 10,000
    (rendering all of a long answer 8 times a second starves generation of the GIL).
    A code block cut open is reopened so the tail still renders as code."""
    lines = text.split("\n")
    if len(lines) <= keep:
        return text
    fences = sum(1 for line in lines[:-keep] if line.lstrip().startswith(("```", "~~~")))
    return ("```\n" if fences % 2 else "") + "\n".join(lines[-keep:])


class MarkdownSink:
    """A terminal gets the answer rendered as markdown, live, a few times a second."""

    def __init__(self, console: Console) -> None:
        from rich.live import Live

        self.console = console
        self.parts: list[str] = []
        self.live = Live(console=console, refresh_per_second=8, transient=True)
        self.live.start()

    def write(self, text: str) -> None:
        self.parts.append(text)
        self.live.update(_Tail(self.parts))

    def finish(self) -> None:
        from rich.markdown import Markdown

        self.live.stop()
        text = "".join(self.parts)
        if text.strip():
            self.console.print(Markdown(text, code_theme="monokai"))


def text_sink(env: Environment, *, markdown: bool = True) -> TextSink:
    if env.stdout_isatty and markdown:
        return MarkdownSink(make_console(env))
    return PlainSink(env.stdout)


def feed(events: Iterator[Chunk | Stats], sink: TextSink, parts: list[str]) -> Stats | None:
    """Write streamed text to a sink as it comes, keeping it in `parts` (which survives a
    Ctrl-C mid-stream); the stream's Stats."""
    from llmcli.engine import Chunk

    stats = None
    for event in events:
        if isinstance(event, Chunk):
            parts.append(event.text)
            sink.write(event.text)
        else:
            stats = event
    return stats


def pump(events: Iterator[Chunk | Stats], sink: TextSink) -> tuple[str, Stats | None]:
    """Write streamed text to a sink; on Ctrl-C the text so far stays on screen."""
    parts: list[str] = []
    try:
        stats = feed(events, sink, parts)
    finally:
        sink.finish()
    return "".join(parts), stats
