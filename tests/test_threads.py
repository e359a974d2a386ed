"""engine/threads.py: the registry of running llm processes and the fair thread share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmcli.engine import threads
from llmcli.engine.threads import Balancer, Registry, default_cores, fair_share
from tests.conftest import Runner


@pytest.mark.parametrize(
    ("cores", "busy", "shares"),
    [(2, 1, [2]), (2, 2, [1, 1]), (2, 4, [1, 1, 1, 1]), (3, 2, [2, 1]), (8, 3, [3, 3, 2])],
)
def test_fair_share_splits_the_cores_oldest_first(cores: int, busy: int, shares: list[int]) -> None:
    assert [fair_share(cores, busy, rank) for rank in range(busy)] == shares


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_alone_registers_and_leaves(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "running")
    reg.join()
    assert [p.name for p in (tmp_path / "running").iterdir()] == [reg.name]
    assert reg.busy() == (1, 0)
    reg.leave()
    assert list((tmp_path / "running").iterdir()) == []


def test_two_registered_see_each_other_and_the_older_ranks_first(tmp_path: Path) -> None:
    a, b = Registry(tmp_path), Registry(tmp_path)
    a.join()
    b.join()
    assert a.busy() == (2, 0)
    assert b.busy() == (2, 1)
    b.leave()
    assert a.busy() == (1, 0)
    a.leave()


def test_a_dead_process_file_is_ignored_and_removed(tmp_path: Path) -> None:
    stale = tmp_path / "999999.1"
    stale.write_text("")  # nobody holds its lock: its process died without cleaning up
    reg = Registry(tmp_path)
    reg.join()
    assert reg.busy() == (1, 0)
    assert not stale.exists()
    reg.leave()


def test_an_idle_process_is_not_counted_until_it_computes_again(tmp_path: Path) -> None:
    a, b = Registry(tmp_path), Registry(tmp_path)
    a.join()
    b.join()
    old = time.time() - threads.ACTIVE_S - 5
    os.utime(tmp_path / b.name, (old, old))  # b: a chat waiting at its prompt
    assert a.busy() == (1, 0)
    b.beat()
    assert a.busy() == (2, 0)
    a.leave()
    b.leave()


def test_another_process_holding_its_lock_is_counted(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from llmcli.engine.threads import Registry; "
        f"r = Registry(Path({str(tmp_path)!r})); r.join(); print('in', flush=True); "
        "sys.stdin.read(); r.leave()"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().strip() == "in"
    reg = Registry(tmp_path)
    reg.join()
    assert reg.busy() == (2, 1)
    child.stdin.close()
    child.wait(timeout=30)
    assert reg.busy() == (1, 0)
    reg.leave()


def test_an_unwritable_registry_is_skipped(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    reg = Registry(blocker / "running")  # a file where the directory should be
    reg.join()
    assert reg.busy() == (1, 0)
    reg.leave()


def test_balancer_shrinks_when_another_starts_and_grows_back(tmp_path: Path) -> None:
    clock = Clock()
    first = Balancer(Registry(tmp_path), 2, clock=clock)
    assert first.threads == 2
    assert "no other llm process" in first.choice().why
    second = Balancer(Registry(tmp_path), 2, clock=clock)
    assert second.threads == 1
    assert first.tick() == 1  # its first check comes at once
    assert "1 other llm process" in first.choice().why
    second.close()
    assert first.tick() is None  # checks are CHECK_S apart
    clock.now += threads.CHECK_S
    assert first.tick() == 2
    assert first.tick() is None
    first.close()


def test_fixed_threads_win_but_still_register(tmp_path: Path) -> None:
    clock = Clock()
    fixed = Balancer(Registry(tmp_path), 2, fixed=2, clock=clock)
    other = Balancer(Registry(tmp_path), 2, clock=clock)
    assert fixed.threads == 2
    assert fixed.choice().why == "--threads / LLM_THREADS"
    assert other.threads == 1  # the fixed one takes cores too
    assert fixed.tick() is None
    other.close()
    fixed.close()


def test_without_a_registry_one_process_takes_every_core() -> None:
    balancer = Balancer(None, 4)
    assert balancer.threads == 4
    assert balancer.tick() is None
    assert balancer.choice().as_dict() == {"threads": 4, "why": "all 4 cores"}


def test_info_shows_the_thread_choice_and_why(llm: Runner, tmp_path: Path) -> None:
    alone = json.loads(llm("info", "--json").stdout)["threads"]
    assert alone == {"threads": default_cores(), "why": Contains("no other llm process")}
    other = Registry(tmp_path / "cache" / threads.DIRNAME)
    other.join()  # another llm process computing now
    shared = json.loads(llm("info", "--json").stdout)["threads"]
    assert shared["threads"] == fair_share(default_cores(), 2, 1)
    assert "1 other llm process" in shared["why"]
    llm.environ["LLM_THREADS"] = "3"
    fixed = json.loads(llm("info", "--json").stdout)["threads"]
    assert fixed == {"threads": 3, "why": "--threads / LLM_THREADS"}
    other.leave()


def test_loads_get_the_registry_in_the_cache_dir(llm: Runner, tmp_path: Path) -> None:
    assert llm("run", "hi").exit_code == 0
    assert llm.params[-1].thread_registry == tmp_path / "cache" / threads.DIRNAME


class Contains(str):
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and str(self) in other

    __hash__ = str.__hash__
