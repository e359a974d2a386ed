"""Slash commands of the chat: parsing, the table of commands, and what each one does.

Commands act on a Chat and report through an Output; ones that need a reply generated
(/retry) hand the text back to the REPL as an Action.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from llmcli.chat.session import Session
from llmcli.chat.store import check_name
from llmcli.chat.turn import Chat
from llmcli.errors import LlmError, UsageError


class Output(Protocol):
    def info(self, text: str) -> None: ...
    def error(self, text: str) -> None: ...


@dataclass(frozen=True)
class Action:
    exit: bool = False
    ask: str | None = None  # generate a reply to this user text


CONTINUE = Action()
Handler = Callable[[Chat, str, Output], Action]


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    run: Handler


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str, help: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = Command(name, usage, help, fn)
        return fn

    return register


def is_command(line: str) -> bool:
    """`/word ...` is a command; `//text` sends `/text` as a message."""
    return line.startswith("/") and not line.startswith("//") and len(line) > 1


def run_command(line: str, chat: Chat, out: Output) -> Action:
    name, _, arg = line[1:].strip().partition(" ")
    found = COMMANDS.get(name.lower()) or COMMANDS.get(_ALIASES.get(name.lower(), ""))
    if found is None:
        out.error(f"unknown command /{name} (/help lists them; //text sends /text)")
        return CONTINUE
    try:
        return found.run(chat, arg.strip(), out)
    except LlmError as exc:
        out.error(exc.message + (f" ({exc.hint})" if exc.hint else ""))
        return CONTINUE


_ALIASES = {"quit": "exit", "q": "exit", "?": "help", "h": "help"}


# -- the commands ---------------------------------------------------------------------------


@command("help", "/help", "this list")
def _help(chat: Chat, arg: str, out: Output) -> Action:
    width = max(len(c.usage) for c in COMMANDS.values())
    lines = [f"{c.usage:<{width}}  {c.help}" for c in COMMANDS.values()]
    lines += [
        "",
        'Enter sends; Alt+Enter (or Esc Enter) adds a line; """ opens and closes a block.',
        "Ctrl-C stops a reply (the text so far is kept); Ctrl-C twice or Ctrl-D exits.",
        "Up/Down and Ctrl-R search earlier input; Tab completes commands; //text sends /text.",
    ]
    out.info("\n".join(lines))
    return CONTINUE


@command("system", "/system [TEXT|off]", "show or set the system prompt")
def _system(chat: Chat, arg: str, out: Output) -> Action:
    if not arg:
        out.info(f"system prompt: {chat.session.system!r}" if chat.session.system else "none")
        return CONTINUE
    chat.session.system = None if arg.lower() in ("off", "none", "-") else arg
    chat.session.touch()
    chat.save()
    out.info("system prompt set" if chat.session.system else "system prompt removed")
    return CONTINUE


@command("clear", "/clear", "start a new conversation (the current one stays saved)")
def _clear(chat: Chat, arg: str, out: Output) -> Action:
    old = chat.session
    chat.save()
    chat.session = Session(
        name=chat.store.new_name(taken=old.name),
        system=old.system,
        model=old.model,
        settings=dict(old.settings),
    )
    kept = f"; {old.name!r} is saved" if old.messages and chat.autosave else ""
    out.info(f"new conversation{kept}")
    return CONTINUE


@command("undo", "/undo", "drop the last exchange")
def _undo(chat: Chat, arg: str, out: Output) -> Action:
    text = chat.session.undo()
    if text is None:
        out.error("nothing to undo")
        return CONTINUE
    chat.save()
    out.info(f"dropped the last exchange ({preview(text)})")
    return CONTINUE


@command("retry", "/retry", "generate the last answer again")
def _retry(chat: Chat, arg: str, out: Output) -> Action:
    text = chat.session.undo()
    if text is None:
        out.error("nothing to retry yet")
        return CONTINUE
    return Action(ask=text)


@command("save", "/save [NAME]", "save the conversation (under NAME from now on)")
def _save(chat: Chat, arg: str, out: Output) -> Action:
    if arg:
        name = check_name(arg)
        if name != chat.session.name and chat.store.exists(name):
            raise UsageError(f"a session named {name!r} exists; /load it or pick another name")
        chat.session.name = name
    chat.session.touch()
    path = chat.store.save(chat.session)
    chat.autosave = True  # a named conversation keeps itself up to date
    out.info(f"saved to {path}")
    return CONTINUE


@command("load", "/load NAME", "switch to a saved conversation")
def _load(chat: Chat, arg: str, out: Output) -> Action:
    if not arg:
        raise UsageError("/load needs a session name (/sessions lists them)")
    loaded = chat.store.load(arg)  # a bad file raises before anything changes
    chat.save()
    chat.session = loaded
    out.info(f"loaded {loaded.name!r}: {exchanges(loaded.exchanges)}")
    if loaded.model and loaded.model != chat.model.spec:
        out.info(f"it was held with {loaded.model}; /model {loaded.model} switches")
    loaded.model = chat.model.spec
    last = loaded.last_reply()
    if last:
        out.info(f"last answer: {preview(last, 200)}")
    return CONTINUE


@command("sessions", "/sessions", "list saved conversations, newest first")
def _sessions(chat: Chat, arg: str, out: Output) -> Action:
    from datetime import datetime

    found = chat.store.list()
    if not found:
        out.info(f"no saved sessions in {chat.store.directory}")
        return CONTINUE
    lines = []
    for info in found[:30]:
        when = datetime.fromtimestamp(info.mtime).strftime("%Y-%m-%d %H:%M")
        mark = "*" if info.name == chat.session.name else " "
        lines.append(f"{mark} {info.name:<28} {when}  {_summary(chat, info.name)}")
    more = f"\n  … and {len(found) - 30} more in {chat.store.directory}" if len(found) > 30 else ""
    out.info("\n".join(lines) + more)
    return CONTINUE


def _summary(chat: Chat, name: str) -> str:
    """Exchanges and the opening question, so the right one can be picked to /load."""
    try:
        session = chat.store.load(name)
    except LlmError:
        return "(unreadable)"
    first = next((m.content for m in session.messages if m.role == "user"), "")
    return f"{exchanges(session.exchanges):>13}  {preview(first, 40) if first else ''}"


@command("model", "/model [SPEC]", "show the model, or switch to another (history kept)")
def _model(chat: Chat, arg: str, out: Output) -> Action:
    if arg:
        chat.switch_model(arg)
        chat.session.model = chat.model.spec
        chat.save()
    info = chat.describe()
    where = f" at {info['endpoint']}" if "endpoint" in info else ""
    out.info(f"model {info['model']} ({info['file']}{where}), context {info['ctx']:,} tokens")
    return CONTINUE


# Generation settings /set accepts: name -> (parse, check, description of valid values).
_SETTINGS: dict[str, tuple[type, Callable[[Any], bool], str]] = {
    "temperature": (float, lambda v: 0 <= v <= 5, "0 to 5"),
    "top_p": (float, lambda v: 0 < v <= 1, "above 0, at most 1"),
    "top_k": (int, lambda v: v >= 0, "0 or more"),
    "min_p": (float, lambda v: 0 <= v <= 1, "0 to 1"),
    "repeat_penalty": (float, lambda v: v > 0, "above 0"),
    "max_tokens": (int, lambda v: v >= 1, "1 or more, or 'none'"),
    "seed": (int, lambda v: True, "an integer, or 'none'"),
}
SETTING_KEYS = tuple(_SETTINGS)


@command("set", "/set [KEY VALUE]", "show or change a generation setting (temperature, …)")
def _set(chat: Chat, arg: str, out: Output) -> Action:
    parts = shlex.split(arg) if arg else []
    if not parts:
        opts = chat.options()
        out.info("  ".join(f"{k} {getattr(opts, k)}" for k in _SETTINGS))
        return CONTINUE
    if len(parts) != 2:
        raise UsageError("usage: /set KEY VALUE, e.g. /set temperature 0.2")
    key, raw = parts[0].replace("-", "_").lower(), parts[1]
    if key not in _SETTINGS:
        raise UsageError(f"unknown setting {parts[0]!r}; settings: {', '.join(_SETTINGS)}")
    kind, ok, valid = _SETTINGS[key]
    if raw.lower() in ("none", "off") and key in ("max_tokens", "seed"):
        chat.session.settings[key] = None
    else:
        try:
            value = kind(raw)
        except ValueError:
            raise UsageError(f"{key} must be {valid}, got {raw!r}") from None
        if not ok(value):
            raise UsageError(f"{key} must be {valid}, got {raw!r}")
        chat.session.settings[key] = value
    chat.session.touch()
    chat.save()
    out.info(f"{key} = {chat.session.settings[key]}")
    return CONTINUE


@command("stats", "/stats", "show the last reply's stats, and toggle them after each reply")
def _stats(chat: Chat, arg: str, out: Output) -> Action:
    from llmcli.output import stats_line

    chat.show_stats = not chat.show_stats
    if chat.last_stats is not None:
        out.info(stats_line(chat.last_stats))
    out.info(f"stats after each reply: {'on' if chat.show_stats else 'off'}")
    return CONTINUE


@command("copy", "/copy", "copy the last answer to the clipboard")
def _copy(chat: Chat, arg: str, out: Output) -> Action:
    from llmcli.chat.clipboard import copy

    text = chat.session.last_reply()
    if not text:
        out.error("no answer to copy yet")
        return CONTINUE
    out.info(copy(text, chat.env))
    return CONTINUE


@command("exit", "/exit", "leave (Ctrl-D does too)")
def _exit(chat: Chat, arg: str, out: Output) -> Action:
    return Action(exit=True)


def exchanges(n: int) -> str:
    return f"{n} exchange" + ("" if n == 1 else "s")


def preview(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")
