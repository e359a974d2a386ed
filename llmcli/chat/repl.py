"""The interactive chat: prompt_toolkit for input, Rich for the streamed answers.

This is the UI layer: it alone reads the keyboard and writes the conversation to the
Environment's streams.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any

from llmcli.chat.commands import COMMANDS, SETTING_KEYS, is_command, preview, run_command
from llmcli.chat.turn import Chat
from llmcli.errors import LlmError
from llmcli.output import REPETITION_NOTE, error_line, make_console, stats_line
from llmcli.output.stream import text_sink

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import CompleteEvent, Completion
    from prompt_toolkit.document import Document
    from prompt_toolkit.key_binding import KeyBindings

FENCE = '"""'
HISTORY_FILE = "chat_history"


class ConsoleOutput:
    """Status lines (dim on a terminal) on stdout, errors on stderr."""

    def __init__(self, chat: Chat) -> None:
        self.env = chat.env
        self.console = make_console(chat.env)

    def info(self, text: str) -> None:
        from rich.text import Text

        self.console.print(Text(text, style="dim"))

    def error(self, text: str) -> None:
        error_line(self.env, text)


# -- input ----------------------------------------------------------------------------------


def open_block(text: str) -> bool:
    """Inside a \"\"\" block that has not been closed yet: Enter adds a line."""
    body = text.strip()
    if not body.startswith(FENCE):
        return False
    return not (len(body) >= 2 * len(FENCE) and body.endswith(FENCE))


def unwrap(text: str) -> str:
    """The message inside a \"\"\" block (or the text itself)."""
    body = text.strip()
    if body.startswith(FENCE) and body.endswith(FENCE) and len(body) >= 2 * len(FENCE):
        return body[len(FENCE) : -len(FENCE)].strip("\n")
    return text.strip()


def key_bindings() -> KeyBindings:
    from prompt_toolkit.filters import is_searching
    from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

    kb = KeyBindings()

    @kb.add("enter", filter=~is_searching)
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if open_block(buffer.text):
            buffer.insert_text("\n")
        else:
            buffer.validate_and_handle()

    @kb.add("escape", "enter", filter=~is_searching)
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @kb.add("c-c", filter=~is_searching)
    def _ctrl_c(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.text:
            buffer.reset()  # first Ctrl-C clears what was typed
        else:
            event.app.exit(exception=KeyboardInterrupt, style="class:aborting")

    return kb


def make_completer(chat: Chat) -> Any:
    from prompt_toolkit.completion import Completer, Completion

    class SlashCompleter(Completer):
        """Command names after '/', session names after /load and /save, keys after /set."""

        def get_completions(
            self, document: Document, complete_event: CompleteEvent
        ) -> Iterable[Completion]:
            text = document.text_before_cursor
            if not text.startswith("/") or "\n" in text:
                return
            name, space, arg = text.partition(" ")
            if not space:
                options: Iterable[str] = (f"/{c}" for c in COMMANDS)
                word = name
            elif " " in arg:
                return
            elif name in ("/load", "/save"):
                options, word = (s.name for s in chat.store.list()), arg
            elif name == "/set":
                options, word = SETTING_KEYS, arg
            else:
                return
            for option in options:
                if option.startswith(word):
                    yield Completion(option, start_position=-len(word))

    return SlashCompleter()


def make_prompt(chat: Chat, **io: Any) -> PromptSession[str]:
    """The input line; io (input=, output=) lets tests drive it through a pipe."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory

    from llmcli.config import private_dir, private_file

    history: History = InMemoryHistory()
    assert chat.env.data_dir is not None
    try:  # what was typed is as private as the sessions: 0600 in a 0700 dir
        path = private_file(private_dir(chat.env.data_dir) / HISTORY_FILE)
        history = FileHistory(str(path))
    except OSError:
        pass  # a read-only data dir: history lives for this chat only
    return PromptSession(
        history=history,
        key_bindings=key_bindings(),
        multiline=True,
        completer=make_completer(chat),
        complete_while_typing=False,
        prompt_continuation=lambda width, line, wrap: "" if wrap else "... ",
        enable_open_in_editor=False,
        **io,
    )


# -- the loop -------------------------------------------------------------------------------


def run_repl(chat: Chat, **io: Any) -> int:
    """Read, answer, repeat; returns the exit status (0: Ctrl-D, /exit, Ctrl-C twice)."""
    prompt = make_prompt(chat, **io)
    out = ConsoleOutput(chat)
    info = chat.describe()
    out.info(
        f"llm chat · {info['model']} · context {info['ctx']:,} tokens · session {info['session']}"
        " · /help for commands, Ctrl-D to exit"
    )
    last = chat.session.last_reply()
    if last:  # a resumed chat: remind where it stopped
        out.info(f"last answer: {preview(last, 200)}")
    armed = False  # one Ctrl-C at an empty prompt arms exit, a second one exits
    while True:
        try:
            line = prompt.prompt(">>> ")
        except KeyboardInterrupt:
            if armed:
                break
            armed = True
            out.info("(Ctrl-C again or Ctrl-D to exit)")
            continue
        except EOFError:
            break
        armed = False
        if not line.strip():
            continue
        if is_command(line.strip()):
            action = run_command(line.strip(), chat, out)
            if action.exit:
                break
            if action.ask is None:
                continue
            text = action.ask
        else:
            text = unwrap(line)
            text = text[1:] if text.startswith("//") else text
        answer(chat, text, out)
    chat.save()
    return 0


def answer(chat: Chat, text: str, out: ConsoleOutput) -> None:
    """One turn on screen: drop notice, streamed reply, then stats or a stop note."""
    try:
        with no_echo(chat.env.stdin):
            sink = text_sink(chat.env, show_thinking=chat.show_thinking, hint="/think shows it")
            result = chat.ask(text, sink, out.info)
    except LlmError as exc:
        out.error(exc.message + (f" ({exc.hint})" if exc.hint else ""))
        return
    except KeyboardInterrupt:  # while counting tokens, before the reply began
        chat.save()
        out.info("(interrupted)")
        return
    if result.interrupted:
        kept = "the partial answer is kept" if result.text else "nothing was written yet"
        out.info(f"(stopped: {kept}; /retry writes a new answer)")
    elif result.stats and result.stats.finish_reason == "length":
        out.info("(the answer reached the token limit: --max-tokens, /set max_tokens, or --ctx)")
    elif result.stats and result.stats.finish_reason == "repetition":
        out.info(f"({REPETITION_NOTE})")
    if chat.show_stats and result.stats:
        out.info(stats_line(result.stats))


@contextlib.contextmanager
def no_echo(stream: IO[str]) -> Iterator[None]:
    """While a reply streams, keys typed (and the ^C of Ctrl-C) must not be echoed into it:
    the echo shifts the live markdown area and leaves stray lines. Typed text still reaches
    the next prompt."""
    try:
        import termios
    except ImportError:  # Windows
        yield
        return
    try:
        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
    except (termios.error, OSError, ValueError, AttributeError):
        yield
        return
    quiet = list(saved)
    quiet[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)
