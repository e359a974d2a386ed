"""Session files: one JSON file per session in the sessions dir, written atomically.

A file that does not parse is reported with its path and never written over: the writer only
targets names that are free or that it loaded itself. A chat holds its session while it runs
(an advisory lock on `.NAME.lock`, released by the system if the process dies): a second
`llm chat` on the same session is refused instead of overwriting the first one's exchanges,
and two chats started in the same second get different names.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from llmcli.chat.session import Session, SessionError
from llmcli.config import atomic_write_text, private_dir
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


class SessionBusyError(SessionError):
    """Another running chat holds this session."""


class SessionStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.held: str | None = None  # the session this process holds
        self._lock_fd: int | None = None

    # -- holding a session ------------------------------------------------------------------

    def hold(self, name: str) -> None:
        """Hold NAME for this chat (the one held before is let go); SessionBusyError when
        another process holds it. Without file locks (Windows) this only records the name."""
        name = check_name(name)
        if name == self.held:
            return
        fd = self._lock(name)
        self.release()
        self.held, self._lock_fd = name, fd

    def release(self) -> None:
        fd, self._lock_fd, name, self.held = self._lock_fd, None, self.held, None
        if fd is not None:
            with contextlib.suppress(OSError):  # removed while locked: see _lock
                self._lock_path(str(name)).unlink()
            os.close(fd)  # closing drops the lock

    def _lock_path(self, name: str) -> Path:
        return self.directory / f".{name}.lock"

    def _lock(self, name: str) -> int | None:
        try:
            import fcntl
        except ImportError:
            return None
        path = self._lock_path(name)
        while True:
            try:
                fd = os.open(private_dir(self.directory) / path.name, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:  # a read-only data dir: no lock, and saving will say why it fails
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise self._busy(name, fd) from None
            try:  # the holder before us may have removed the file between our open and lock
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        with contextlib.suppress(OSError):
            os.write(fd, str(os.getpid()).encode())
        return fd

    @staticmethod
    def _busy(name: str, fd: int) -> SessionBusyError:
        owner = os.read(fd, 32).decode("ascii", "replace").strip()
        os.close(fd)
        by = f" (pid {owner})" if owner.isdigit() else ""
        return SessionBusyError(
            f"session {name!r} is open in another llm chat{by}",
            hint="leave that chat first, or use another --session NAME",
        )

    def path(self, name: str) -> Path:
        return self.directory / f"{check_name(name)}{SUFFIX}"

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def new_name(self, taken: str = "") -> str:
        """A free name for an unnamed chat, held at once: two chats in one second (in two
        processes) must not share a file."""
        base = name = auto_name()
        n = 1
        while True:
            if name != taken and not self.exists(name):
                try:
                    self.hold(name)
                    return name
                except SessionBusyError:
                    pass
            n += 1
            name = f"{base}-{n}"

    def save(self, session: Session) -> Path:
        path = self.path(session.name)
        text = json.dumps(session.to_dict(), ensure_ascii=False, indent=1)
        try:
            private_dir(self.directory)
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
        """The most recent session, held."""
        sessions = self.list()
        if not sessions:
            raise SessionError(
                "no saved chat to continue", hint=f"sessions are saved in {self.directory}"
            )
        self.hold(sessions[0].name)
        return self.load(sessions[0].name)

    def open_or_create(self, name: str) -> tuple[Session, bool]:
        """The named session, held, or a new one of that name (True when it was created)."""
        name = check_name(name)
        self.hold(name)  # before reading: what is read is what this chat will write back
        if self.exists(name):
            return self.load(name), False
        return Session(name=name), True
