"""Session files: one JSON file per session in the sessions dir, written atomically.

A file that does not parse is reported with its path and never written over: the writer only
targets names that are free or that it loaded itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from llmcli.chat.session import Session, SessionError
from llmcli.config import atomic_write_text
from llmcli.errors import UsageError

SUFFIX = ".json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class SessionInfo:
    name: str
    path: Path
    mtime: float


def check_name(name: str) -> str:
    name = name.strip().removesuffix(SUFFIX)
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"bad session name {name!r}: use letters, digits, '.', '-' and '_' (up to 100)"
        )
    return name


def auto_name() -> str:
    """Unnamed chats are saved too (for --continue), under their start time."""
    return datetime.now().strftime("chat-%Y%m%d-%H%M%S")


class SessionStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        return self.directory / f"{check_name(name)}{SUFFIX}"

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def new_name(self, taken: str = "") -> str:
        """A free name for an unnamed chat (two chats in one second must not share a file)."""
        base = name = auto_name()
        n = 1
        while name == taken or self.exists(name):
            n += 1
            name = f"{base}-{n}"
        return name

    def save(self, session: Session) -> Path:
        path = self.path(session.name)
        text = json.dumps(session.to_dict(), ensure_ascii=False, indent=1)
        try:
            atomic_write_text(path, text + "\n")
        except OSError as exc:
            raise SessionError(f"cannot save session to {path}: {exc.strerror or exc}") from None
        return path

    def load(self, name: str) -> Session:
        path = self.path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SessionError(
                f"no session named {name!r}", hint="`/sessions` or `llm chat --session NAME`"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SessionError(f"cannot read session {path}: {exc}") from None
        try:
            return Session.from_dict(json.loads(text), check_name(name))
        except ValueError as exc:  # JSONDecodeError is a ValueError
            raise SessionError(
                f"session file {path} is corrupt: {exc}",
                hint="it was left untouched; fix or move it, or use another --session NAME",
            ) from None

    def list(self) -> list[SessionInfo]:
        """Newest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.glob(f"*{SUFFIX}"):
            if _NAME.fullmatch(path.stem) and path.is_file():
                found.append(SessionInfo(path.stem, path, path.stat().st_mtime))
        return sorted(found, key=lambda s: s.mtime, reverse=True)

    def latest(self) -> Session:
        sessions = self.list()
        if not sessions:
            raise SessionError(
                "no saved chat to continue", hint=f"sessions are saved in {self.directory}"
            )
        return self.load(sessions[0].name)

    def open_or_create(self, name: str) -> tuple[Session, bool]:
        """The named session, or a new one of that name (True when it was created)."""
        name = check_name(name)
        if self.exists(name):
            return self.load(name), False
        return Session(name=name), True
