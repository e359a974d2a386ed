"""Streamed answers: markdown rendered live on a terminal, plain text flushed per chunk in a pipe.

Thinking text of reasoning models (`Chunk.reasoning`) goes to `sink.think()`: a terminal shows
it folded into one dim line ("thought for N words"), or dimmed in full with `show_thinking`;
a pipe drops it, or with `show_thinking` writes it first between `<think>` and `</think>`
lines.
"""

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
    def think(self, text: str) -> None: ...
    def finish(self) -> None: ...


class PlainSink:
    """Pipes get the text as it comes, flushed per chunk, and a final newline."""

    def __init__(self, stream: IO[str], *, show_thinking: bool = False) -> None:
        self.stream = stream
        self.last = ""
        self.show_thinking = show_thinking
        self.thinking = False  # inside a <think> block written out

    def write(self, text: str) -> None:
        if self.thinking:
            self._close_thinking()
        self._put(text)

    def think(self, text: str) -> None:
        if not self.show_thinking:
            return
        if not self.thinking:
            self._put("<think>\n")
            self.thinking = True
        self._put(text)

    def _close_thinking(self) -> None:
        self.thinking = False
        self._put(("" if self.last == "\n" else "\n") + "</think>\n\n")

    def _put(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
        self.last = text[-1:] or self.last

    def finish(self) -> None:
        if self.thinking:
            self._close_thinking()
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

    def __init__(self, console: Console, *, show_thinking: bool = False, hint: str = "") -> None:
        from rich.live import Live

        self.console = console
        self.parts: list[str] = []
        self.thoughts: list[str] = []
        self.show_thinking = show_thinking
        self.hint = hint  # how to see folded thinking, e.g. "/think shows it"
        self.live = Live(console=console, refresh_per_second=8, transient=True)
        self.live.start()

    def write(self, text: str) -> None:
        if self.thoughts and not self.parts:
            self._fold()
        self.parts.append(text)
        self.live.update(_Tail(self.parts))

    def think(self, text: str) -> None:
        from rich.text import Text

        self.thoughts.append(text)
        if self.show_thinking:
            shown = Text(_tail_source("".join(self.thoughts), self.console.size.height - 1))
        else:
            shown = Text(f"thinking… {thought_words(self.thoughts)} words")
        shown.stylize("dim")
        self.live.update(shown)

    def _fold(self) -> None:
        """The thinking, done: one dim line, or all of it dimmed with show_thinking."""
        from rich.text import Text

        if self.show_thinking:
            self.console.print(Text("".join(self.thoughts).strip(), style="dim"))
        else:
            hint = f"; {self.hint}" if self.hint else ""
            self.console.print(
                Text(f"(thought for {thought_words(self.thoughts)} words{hint})", style="dim")
            )

    def finish(self) -> None:
        from rich.markdown import Markdown

        self.live.stop()
        if self.thoughts and not self.parts:
            self._fold()
        text = "".join(self.parts)
        if text.strip():
            self.console.print(Markdown(text, code_theme="monokai"))


def thought_words(parts: list[str]) -> int:
    return len("".join(parts).split())


def text_sink(
    env: Environment, *, markdown: bool = True, show_thinking: bool = False, hint: str = ""
) -> TextSink:
    if env.stdout_isatty and markdown:
        return MarkdownSink(make_console(env), show_thinking=show_thinking, hint=hint)
    return PlainSink(env.stdout, show_thinking=show_thinking)


def feed(
    events: Iterator[Chunk | Stats],
    sink: TextSink,
    parts: list[str],
    thoughts: list[str] | None = None,
) -> Stats | None:
    """Write streamed text to a sink as it comes, keeping it in `parts` and thinking text in
    `thoughts` (both survive a Ctrl-C mid-stream); the stream's Stats."""
    from llmcli.engine import Chunk

    stats = None
    for event in events:
        if isinstance(event, Chunk):
            if event.reasoning:
                if thoughts is not None:
                    thoughts.append(event.text)
                sink.think(event.text)
                continue
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
