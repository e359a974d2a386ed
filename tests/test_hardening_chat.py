"""Issue 15, chat files: a session held by one chat at a time, unique names, private modes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmcli.chat.store import SessionBusyError, SessionStore
from llmcli.errors import ExitCode
from tests.conftest import Runner
from tests.fake_engine import FakeEngine
from tests.test_chat_repl import ENTER, type_keys

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX locks and modes")

HOLDER = """
import sys
from pathlib import Path
from llmcli.chat.store import SessionStore
store = SessionStore(Path(sys.argv[1]))
store.hold(sys.argv[2])
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def other_chat(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the session 'work', as a running `llm chat` would."""
    directory = tmp_path / "data" / "sessions"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory), "work"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)


def test_a_session_open_in_another_process_is_refused(
    llm: Runner, engine: FakeEngine, other_chat: subprocess.Popen[str]
) -> None:
    result = llm("chat", "--session", "work", stdin="hi\n")
    assert result.exit_code == ExitCode.ERROR
    assert f"session 'work' is open in another llm chat (pid {other_chat.pid})" in result.stderr
    assert engine.calls == []  # refused before anything was said or written


def test_load_of_a_session_open_elsewhere_keeps_the_current_one(
    llm: Runner, engine: FakeEngine, tmp_path: Path, other_chat: subprocess.Popen[str]
) -> None:
    (tmp_path / "data" / "sessions" / "work.json").write_text(
        '{"format": "llmcli.chat/1", "messages": []}'
    )
    result = type_keys(llm, "hi" + ENTER + "/load work" + ENTER + "again" + ENTER)
    assert result.exit_code == 0
    assert "is open in another llm chat" in result.stderr
    users = [m.content for m in engine.calls[-1].messages if m.role == "user"]
    assert users == ["hi", "again"]  # the same chat went on


def test_the_session_is_free_again_when_the_chat_ends(llm: Runner, tmp_path: Path) -> None:
    assert llm("chat", "--session", "work", stdin="hi\n").exit_code == 0
    assert llm("chat", "--session", "work", stdin="more\n").exit_code == 0
    assert [p.name for p in (tmp_path / "data" / "sessions").iterdir()] == ["work.json"]


def test_two_chats_started_in_the_same_second_get_two_names(tmp_path: Path) -> None:
    first, second = SessionStore(tmp_path), SessionStore(tmp_path)
    a, b = first.new_name(), second.new_name()
    assert a != b and b.startswith(a)
    with pytest.raises(SessionBusyError):
        second.hold(a)
    first.release()
    second.hold(a)  # free once its chat let it go


def test_history_sessions_and_data_dir_are_private(llm: Runner, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)  # as an older version left it
    (data / "chat_history").write_text("old secret\n")
    os.chmod(data / "chat_history", 0o644)
    old = os.umask(0o022)
    try:
        assert type_keys(llm, "my secret" + ENTER).exit_code == 0
    finally:
        os.umask(old)
    assert data.stat().st_mode & 0o777 == 0o700
    assert (data / "sessions").stat().st_mode & 0o777 == 0o700
    assert (data / "chat_history").stat().st_mode & 0o777 == 0o600
    assert "my secret" in (data / "chat_history").read_text()
    for path in (data / "sessions").glob("*.json"):
        assert path.stat().st_mode & 0o777 == 0o600


def test_a_read_only_data_dir_still_chats(
    llm: Runner, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No lock can be taken there: the chat goes on, and saving says why it cannot. (The
    tests run as root, who can write anywhere: the refusal is simulated where it happens.)"""

    def read_only(path: Path) -> Path:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("llmcli.config.private_dir", read_only)
    monkeypatch.setattr("llmcli.chat.store.private_dir", read_only)
    result = llm("chat", "--session", "work", stdin="hi\n")
    assert len(engine.calls) == 1
    assert "cannot save session" in result.stderr and "unexpected" not in result.stderr
