"""The chat session on the FakeEngine: context budget, undo, JSON, session files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from llmcli.chat.session import Session, SessionError
from llmcli.chat.store import SessionStore, check_name
from llmcli.engine import Message
from llmcli.errors import ContextOverflowError, ExitCode, UsageError
from tests.fake_engine import FakeEngine

WORDS = "one two three four five six seven eight nine ten"  # 10 tokens on the FakeEngine


def chatted(exchanges: int, system: str | None = "Be brief.") -> Session:
    session = Session(name="t", system=system)
    for i in range(exchanges):
        session.add_exchange(f"question {i} {WORDS}", f"answer {i} {WORDS}")
    return session


# -- the context budget --------------------------------------------------------------------


def test_prompt_is_system_history_then_new_message() -> None:
    session = chatted(2)
    fit = session.fit(FakeEngine(n_ctx=2048), "next?", reserve=256)
    assert [m.role for m in fit.prompt] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert fit.prompt[-1] == Message("user", "next?")
    assert fit.dropped == 0
    assert fit.tokens == FakeEngine().count_prompt_tokens(fit.prompt)


def test_full_context_drops_oldest_exchanges_and_keeps_system() -> None:
    engine = FakeEngine(n_ctx=200)
    session = chatted(8)  # 8 exchanges x 32 tokens: far over 200 - 50
    fit = session.fit(engine, "next?", reserve=50)
    assert fit.dropped > 0
    assert fit.tokens <= 150
    assert fit.prompt[0] == Message("system", "Be brief.")
    assert fit.prompt[1].role == "user"
    assert fit.prompt[1].content.startswith(f"question {fit.dropped} ")
    assert len(session.messages) == 16  # the session keeps what left the window
    assert session.start == 2 * fit.dropped


def test_window_moves_in_steps_so_the_prompt_prefix_stays_stable() -> None:
    engine = FakeEngine(n_ctx=200)
    session = chatted(8)
    first = session.fit(engine, "next?", reserve=50)
    session.add_exchange("next?", "ok")
    second = session.fit(engine, "and?", reserve=50)
    assert second.dropped == 0
    assert second.prompt[: len(first.prompt)] == [*first.prompt[:-1], Message("user", "next?")]


def test_message_too_long_alone_is_refused_with_its_token_count() -> None:
    session = chatted(2)
    before = list(session.messages)
    with pytest.raises(ContextOverflowError) as err:
        session.fit(FakeEngine(n_ctx=256), " ".join(["word"] * 300), reserve=64)
    assert err.value.exit_code == ExitCode.INPUT_INVALID
    assert err.value.tokens == 300 + 4 + 2 + 2 + 4  # message, its frame, system prompt
    assert "this message is 312 tokens" in err.value.message
    assert session.messages == before and session.start == 0


def test_budget_counts_the_whole_rendered_conversation() -> None:
    counted: list[int] = []
    engine = FakeEngine(n_ctx=2048)
    original = engine.count_prompt_tokens

    def spy(messages: Sequence[Message]) -> int:
        counted.append(len(messages))
        return original(messages)

    engine.count_prompt_tokens = spy  # type: ignore[method-assign]
    chatted(3).fit(engine, "x", reserve=10)
    assert max(counted) == 1 + 6 + 1


# -- undo and the last reply ---------------------------------------------------------------


def test_undo_drops_the_last_exchange_and_returns_its_question() -> None:
    session = chatted(2)
    assert session.undo() == f"question 1 {WORDS}"
    assert len(session.messages) == 2
    assert session.last_reply() == f"answer 0 {WORDS}"
    assert session.undo() is not None
    assert session.undo() is None


def test_undo_inside_a_moved_window_pulls_the_window_back() -> None:
    session = chatted(3)
    session.start = 4
    session.undo()
    assert session.start == 4 == len(session.messages)
    session.undo()
    assert session.start == 2


# -- JSON and files ------------------------------------------------------------------------


def test_json_round_trip_keeps_everything() -> None:
    session = chatted(2)
    session.start, session.model, session.settings = 2, "smollm2", {"temperature": 0.2}
    again = Session.from_dict(json.loads(json.dumps(session.to_dict())), "t")
    assert again == session


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ([], "not a JSON object"),
        ({"format": "other", "messages": []}, "unknown format"),
        ({"format": "llmcli.chat/1"}, "'messages' is missing"),
        ({"format": "llmcli.chat/1", "messages": [{"role": "tool", "content": "x"}]}, "message 0"),
        ({"format": "llmcli.chat/1", "messages": [{"role": "user", "content": 3}]}, "message 0"),
        ({"format": "llmcli.chat/1", "messages": [], "context_start": 5}, "context_start"),
        ({"format": "llmcli.chat/1", "messages": [], "settings": "hot"}, "'settings' must be"),
    ],
)
def test_from_dict_rejects_bad_data(data: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Session.from_dict(data, "t")


def test_store_saves_atomically_and_loads(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions")
    path = store.save(chatted(1))
    assert path == tmp_path / "sessions" / "t.json"
    assert [p.name for p in path.parent.iterdir()] == ["t.json"]  # no temp files left
    assert store.load("t").messages == chatted(1).messages


def test_corrupt_file_is_a_clear_error_and_stays_untouched(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    (tmp_path / "bad.json").write_text('{"format": "llmcli.chat/1", "messages": [', "utf-8")
    with pytest.raises(SessionError) as err:
        store.load("bad")
    assert "bad.json is corrupt" in err.value.message
    assert "untouched" in (err.value.hint or "")
    assert (tmp_path / "bad.json").read_text("utf-8").endswith("[")


def test_latest_is_the_most_recently_written(tmp_path: Path) -> None:
    import os

    store = SessionStore(tmp_path)
    with pytest.raises(SessionError, match="no saved chat"):
        store.latest()
    for i, name in enumerate(["b", "a", "c"]):
        store.save(Session(name=name))
        os.utime(tmp_path / f"{name}.json", (1000 + i, 1000 + i))
    (tmp_path / "notes.txt").write_text("ignored", "utf-8")
    assert store.latest().name == "c"
    assert [s.name for s in store.list()] == ["c", "a", "b"]


def test_open_or_create(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    session, created = store.open_or_create("work")
    assert created and session.name == "work" and not (tmp_path / "work.json").exists()
    store.save(chatted(1))
    assert store.open_or_create("t")[1] is False


@pytest.mark.parametrize("name", ["", "../x", ".hidden", "a/b", "x" * 101, "sp ace"])
def test_bad_session_names_are_usage_errors(name: str) -> None:
    with pytest.raises(UsageError):
        check_name(name)


def test_session_name_may_carry_the_suffix() -> None:
    assert check_name("work.json") == "work"
