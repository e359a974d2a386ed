"""`llm chat`: an interactive conversation, or a scripted one when stdin is not a terminal."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from llmcli.cli import options as o
from llmcli.cli.context import model_loader, setup
from llmcli.cli.options import RunFlags
from llmcli.env import Environment
from llmcli.errors import Interrupted, UsageError

if TYPE_CHECKING:
    from llmcli.chat.session import Session
    from llmcli.chat.store import SessionStore
    from llmcli.chat.turn import Chat
    from llmcli.prompts import Template

EPILOG = """\
Examples:

  llm chat

  llm chat -m bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M -s "You are a terse SQL expert."

  llm chat --session project-x      # named conversation, created if absent

  llm chat --continue               # resume the latest conversation

  llm chat -m @gpu                  # on the server [endpoints.gpu] of config.toml

  printf 'hi\\nand then?\\n' | llm chat      # scripted: one turn per line

  llm chat --grammar answer.gbnf    # every reply held to a GBNF grammar

  llm chat -m Qwen/Qwen3-0.6B-GGUF --no-think    # a reasoning model, answering straight away

Inside: /help lists the commands (/system /clear /undo /retry /save /load /sessions
/model /set /think /stats /copy /exit). Enter sends, Alt+Enter adds a line, \"\"\" opens and closes
a block, Ctrl-C stops a reply, Ctrl-C twice or Ctrl-D leaves. Interactive chats are saved
as they go (scripted ones with --session or --continue) in the data dir, `llm info` shows it.
"""

SessionName = Annotated[
    Optional[str],  # typer needs Optional spelled out on 3.10
    typer.Option(
        "--session", help="Named conversation: resumed, or created if absent.", show_default=False
    ),
]
Continue = Annotated[
    bool, typer.Option("--continue", "-c", help="Resume the most recent conversation.")
]
ShowStats = Annotated[bool, typer.Option("--stats", help="Tokens and speed under each reply.")]


@o.shared(o.MODEL, o.SAMPLING, o.RUNTIME, o.VERBOSE, o.DEBUG, o.THINK, o.SHOW_THINKING)
def chat(
    ctx: typer.Context,
    system: o.System = None,
    template: o.TemplateName = None,
    params: o.Params = None,
    session_name: SessionName = None,
    resume: Continue = False,
    stats: ShowStats = False,
    grammar: o.GrammarFile = None,
    *,
    flags: RunFlags,
) -> None:
    """Chat with a model in the terminal. With stdin not a terminal, each non-empty line is
    one turn and the replies are printed with a blank line between them."""
    from llmcli.chat.store import SessionStore
    from llmcli.chat.turn import Chat
    from llmcli.config import private_dir
    from llmcli.prompts import load_template
    from llmcli.runtime import generation_options

    env, settings = setup(ctx, flags)
    if session_name and resume:
        raise UsageError("use either --session NAME or --continue, not both")
    rules = _grammar(grammar)
    assert env.data_dir is not None
    with contextlib.suppress(OSError):  # read-only: the chat works, saving says why it fails
        private_dir(env.data_dir)  # sessions and the input history live here: 0700
    store = SessionStore(env.sessions_dir)
    chat_state: Chat | None = None
    try:  # from here the store holds a session: let it go whatever happens
        session, resumed = _pick_session(env, store, session_name, resume)
        tmpl = load_template(template or "chat", env)
        if not resumed or system is not None or template is not None:
            _apply_template(session, tmpl, params or [], system, resumed)
        _apply_flags(session, flags)
        chat_state = Chat(
            env=env,
            loader=model_loader(env, settings),
            session=session,
            store=store,
            base_options=replace(
                generation_options(tmpl.settings, settings, think=flags.think), grammar=rules
            ),
            autosave=bool(env.stdin_isatty or session_name or resume),
            show_stats=stats,
            show_thinking=flags.show_thinking,
        )
        chat_state.open(flags.model or session.model)
        if env.stdin_isatty:
            from llmcli.chat.repl import run_repl

            run_repl(chat_state)
        else:
            _scripted(chat_state)
    finally:
        if chat_state is not None:
            chat_state.close()
        store.release()


def _apply_flags(session: Session, flags: RunFlags) -> None:
    """Sampling flags and --think given now override the session's /set values."""
    sampling = vars(flags.sampling)
    session.settings.update({k: v for k, v in sampling.items() if v is not None})
    if flags.think is not None:
        session.settings["think"] = flags.think


def _grammar(path: Path | None) -> str | None:
    """--grammar FILE, parsed now: every reply is held to it."""
    from llmcli.cli.structured import read_grammar

    return read_grammar(path) if path is not None else None


def _pick_session(
    env: Environment, store: SessionStore, name: str | None, resume: bool
) -> tuple[Session, bool]:
    """(session, resumed): the latest, a named one (created if absent), or a new one."""
    from llmcli.chat.commands import exchanges
    from llmcli.chat.session import Session
    from llmcli.output import notice

    if resume:
        session = store.latest()
    elif name:
        session, created = store.open_or_create(name)
        if created:
            return session, False
    elif env.stdin_isatty:
        return Session(name=store.new_name()), False
    else:  # a piped chat without --session saves nothing: no name to hold
        from llmcli.chat.store import auto_name

        return Session(name=auto_name()), False
    notice(env, f"resuming {session.name!r}: {exchanges(session.exchanges)}")
    return session, True


def _apply_template(
    session: Session, tmpl: Template, params: list[str], system: str | None, resumed: bool
) -> None:
    """The template gives the system prompt (and any example turns of a new session)."""
    from llmcli.prompts import parse_params

    values: dict[str, Any] = parse_params(params)
    if system is not None and "system" in tmpl.variables:
        values.setdefault("system", system)
    if "message" in tmpl.variables:
        values.setdefault("message", "")
    messages = tmpl.render(values)[:-1]  # the last one is the (empty) user turn
    head = messages[0].content if messages and messages[0].role == "system" else None
    session.system = system if system is not None else head
    if not resumed:
        session.messages = [m for m in messages if m.role != "system"]


def _scripted(chat: Chat) -> None:
    """Each non-empty stdin line is a turn; replies go out plain, a blank line apart."""
    from llmcli.output import REPETITION_NOTE, notice, stats_line
    from llmcli.output.stream import text_sink

    env = chat.env
    first = True
    for line in _lines(env):
        text = line.strip()
        if not text:
            continue
        if not first:
            env.stdout.write("\n")
        first = False
        sink = text_sink(env, show_thinking=chat.show_thinking)
        result = chat.ask(text, sink, lambda message: notice(env, message))
        if chat.show_stats and result.stats:
            notice(env, stats_line(result.stats))
        if result.stats and result.stats.finish_reason == "repetition":
            notice(env, REPETITION_NOTE)
        if result.interrupted:
            raise Interrupted()


def _lines(env: Environment) -> Iterator[str]:
    """stdin line by line, checked as UTF-8 text: a bad line stops the chat."""
    from llmcli.errors import InputError
    from llmcli.inputs import stdin_lines

    for line in stdin_lines(env, "stdin line"):
        if isinstance(line, InputError):
            raise line
        yield line


def register(app: typer.Typer) -> None:
    app.command("chat", epilog=EPILOG)(chat)
