"""Fan-out over several scripted servers: order kept, retries, a server dying mid-batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from llmcli.engine import Engine
from llmcli.errors import ExitCode, InputError, LlmError, ServerError, StreamBrokenError
from llmcli.tasks.fanout import FanOut, Lane, Sequential, retryable
from tests.fake_servers import FakeServer, ServerDown


def ask(engine: Engine, item: str) -> str:
    assert isinstance(engine, FakeServer)
    return engine.request(item)


def fan(*servers: FakeServer, parallel: int = 4, **kwargs: object) -> FanOut:
    lanes = [Lane(s.name, s) for s in servers]
    return FanOut(lanes, parallel=parallel, sleep=lambda _: None, **kwargs)  # type: ignore[arg-type]


ITEMS = [f"line{n}" for n in range(40)]


def test_results_come_in_input_order_from_every_server() -> None:
    a, b = FakeServer(name="a"), FakeServer(name="b")
    out = list(fan(a, b).map(ask, ITEMS))
    assert [r.split("@")[0] for r in out] == ITEMS
    assert sorted(a.served + b.served) == sorted(ITEMS)  # each item served exactly once
    assert a.served and b.served


def test_a_server_dying_mid_batch_hands_its_items_to_the_other() -> None:
    b = FakeServer(name="b", die_after=5, died_at=3)
    a = FakeServer(name="a", wait_for=b.died)  # b takes the work until it is taken out
    warnings: list[str] = []
    out = list(fan(a, b, warn=warnings.append).map(ask, ITEMS))
    assert [r.split("@")[0] for r in out] == ITEMS
    assert len(b.served) == 5 and len(a.served) == len(ITEMS) - 5
    assert len(warnings) == 1 and warnings[0].startswith("b stopped answering")
    assert "connection refused" in warnings[0]


def test_a_failed_request_is_retried_with_backoff() -> None:
    server = FakeServer(name="a", flaky=frozenset({"line3", "line7"}))
    delays: list[float] = []
    run = FanOut([Lane("a", server)], parallel=2, backoff_s=0.25, sleep=delays.append)
    out = list(run.map(ask, ITEMS[:10]))
    assert out == [f"{item}@a" for item in ITEMS[:10]]
    assert delays and all(d >= 0.25 for d in delays)


def test_retry_after_from_the_server_sets_the_delay() -> None:
    class Busy(ServerDown):
        retry_after = 3

    calls = {"n": 0}

    def busy_once(engine: Engine, item: str) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise Busy("429 too many requests")
        return item

    delays: list[float] = []
    run = FanOut([Lane("a", FakeServer())], parallel=1, sleep=delays.append)
    assert list(run.map(busy_once, ["x"])) == ["x"]
    assert delays == [3.0]


def test_input_errors_are_not_retried() -> None:
    def refuse(engine: Engine, item: str) -> str:
        raise InputError(f"{item} is too long")

    with pytest.raises(InputError, match="too long"):
        list(fan(FakeServer(name="a"), FakeServer(name="b")).map(refuse, ITEMS))


def test_every_server_down_is_one_error() -> None:
    a, b = FakeServer(name="a", die_after=2), FakeServer(name="b", die_after=1)
    with pytest.raises(LlmError, match="all 2 servers stopped answering") as caught:
        list(fan(a, b).map(ask, ITEMS))
    assert caught.value.exit_code == ExitCode.SERVER  # the servers' own exit code


def test_one_item_on_servers_all_down_says_so_not_that_the_item_gave_up() -> None:
    # its tries on servers being taken out do not count: the item is not to blame
    a, b = FakeServer(name="a", die_after=0), FakeServer(name="b", die_after=0)
    with pytest.raises(LlmError, match="all 2 servers stopped answering"):
        list(fan(a, b, parallel=1).map(ask, ["only"]))


def test_an_item_that_fails_everywhere_stops_the_run() -> None:
    def poison(engine: Engine, item: str) -> str:
        if item == "line2":
            raise ServerDown("500 internal error")
        return item

    servers = [FakeServer(name=n) for n in "abcdef"]
    with pytest.raises(LlmError, match="item 3 failed 5 times"):
        list(fan(*servers, parallel=1, dead_after=99).map(poison, ITEMS))


def test_a_consumer_that_stops_early_leaves_no_worker_behind() -> None:
    before = threading.active_count()
    results = fan(FakeServer(name="a")).map(ask, ITEMS)
    assert next(results) == "line0@a"
    results.close()  # type: ignore[attr-defined]
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and thread.daemon:
            thread.join(timeout=2)
    assert threading.active_count() <= before


def test_input_is_read_lazily_and_its_errors_stop_the_run() -> None:
    def lines() -> Iterator[str]:
        yield "one"
        raise OSError("stdin closed")

    with pytest.raises(OSError, match="stdin closed"):
        list(fan(FakeServer(name="a")).map(ask, lines()))


def test_sequential_runs_on_the_calling_thread() -> None:
    seen: list[threading.Thread] = []

    def work(engine: Engine, item: int) -> int:
        seen.append(threading.current_thread())
        return item * 2

    assert list(Sequential(FakeServer()).map(work, [1, 2, 3])) == [2, 4, 6]
    assert set(seen) == {threading.current_thread()}
    assert Sequential(FakeServer()).detail() == ""


def test_detail_shows_each_servers_throughput() -> None:
    b = FakeServer(name="b", die_after=0, died_at=3)
    a = FakeServer(name="a", wait_for=b.died)  # b fails three times before a answers
    run = fan(a, b)
    list(run.map(ask, ITEMS[:8]))
    assert run.detail().startswith("a ") and "/s" in run.detail()
    assert run.detail().endswith("b down")


def test_retryable() -> None:
    assert retryable(ServerDown("gone")) and retryable(ConnectionRefusedError())
    assert retryable(StreamBrokenError("the server went away mid-reply"))
    assert not retryable(InputError("too long")) and not retryable(ValueError("bug"))
    assert not retryable(LlmError("the server refused the request (400 Bad Request)"))
    assert not retryable(ServerError("http://a/v1 needs an API key (401)", retryable=False))


def test_a_refused_key_stops_the_run_without_taking_servers_out() -> None:
    def deny(engine: Engine, item: str) -> str:
        raise ServerError("http://a/v1 needs an API key (401 Unauthorized)", retryable=False)

    warnings: list[str] = []
    with pytest.raises(ServerError, match="needs an API key"):
        list(fan(FakeServer(name="a"), FakeServer(name="b"), warn=warnings.append).map(deny, ITEMS))
    assert warnings == []  # no retries, no "stopped answering"


def test_a_slow_server_holding_an_item_does_not_stall_the_others() -> None:
    slow, fast = FakeServer(name="slow"), FakeServer(name="fast")

    def work(engine: Engine, item: str) -> str:
        if engine is slow:  # holds its first item until the other server did all the rest
            for _ in range(500):
                if len(fast.served) == len(ITEMS) - 1:
                    break
                time.sleep(0.01)
        return ask(engine, item)

    out = list(fan(slow, fast, parallel=1).map(work, ITEMS))
    assert [r.split("@")[0] for r in out] == ITEMS
    assert len(slow.served) == 1 and len(fast.served) == len(ITEMS) - 1
