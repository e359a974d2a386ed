"""CPU threads for one llm process among the others on the machine.

llama.cpp's worker threads spin while they wait for each other, so two processes that each
take every core starve each other (measured: 5x slower in aggregate than one alone). Each
process that loads a model registers in a directory of the cache (one file per process,
held with an exclusive `flock` for its lifetime, its mtime touched while it computes), and
takes a fair share of the cores among the processes computing now. A process re-reads the
registry every CHECK_S while it computes, so one that started alone on every core shrinks
when another starts and grows back when it ends. `--threads`/`LLM_THREADS` fix the count.

Nothing here touches llama.cpp: `Native` asks `Balancer.tick()` before each decode and
applies a changed count.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CHECK_S = 0.25  # how often a computing process re-reads the registry (a directory listing)
ACTIVE_S = 1.5  # a process not seen computing for this long (an idle chat) is not counted
DIRNAME = "running"  # under the cache dir


def default_cores() -> int:
    """The threads one process alone uses: every core it may run on (taskset, cgroups'
    cpusets), or half on big machines, which report SMT siblings as cores."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on every platform
        n = os.cpu_count() or 1
    return n if n <= 4 else n // 2


def fair_share(cores: int, busy: int, rank: int) -> int:
    """Threads for the process at `rank` (0: the oldest) among `busy` computing processes:
    cores split evenly, the remainder to the oldest, at least one each."""
    busy = max(1, busy)
    return max(1, cores // busy + (rank < cores % busy))


@dataclass(frozen=True)
class Choice:
    threads: int
    why: str

    def as_dict(self) -> dict[str, object]:
        return {"threads": self.threads, "why": self.why}


def explain(cores: int, busy: int, threads: int) -> Choice:
    if busy <= 1:
        return Choice(threads, f"all {cores} cores: no other llm process is computing")
    others = busy - 1
    word = "process" if others == 1 else "processes"
    return Choice(threads, f"a fair share of {cores} cores with {others} other llm {word}")


def plan(registry: Registry | None, cores: int, fixed: int | None) -> Choice:
    """The thread count a process would use now, and why. A registry this process has not
    joined (`llm info`) counts it as the newest."""
    if fixed is not None:
        return Choice(fixed, "--threads / LLM_THREADS")
    if registry is None:
        return Choice(cores, f"all {cores} cores")
    busy, rank = registry.busy()
    return explain(cores, busy, fair_share(cores, busy, rank))


class Registry:
    """The running llm processes, one file each: `<pid>.<start ns>`, locked while alive."""

    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.clock = clock
        self.name = ""
        self._fd: int | None = None

    def join(self) -> None:
        """Register this process (silently skipped when the directory cannot be written:
        the thread choice is an optimisation, never a reason to fail)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            name = f"{os.getpid()}.{time.time_ns()}"
            temp = self.root / f".{name}"  # locked before it has its name: never seen unlocked
            fd = os.open(temp, os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(temp, self.root / name)
        except OSError:
            return
        self.name, self._fd = name, fd

    def beat(self) -> None:
        """Mark this process as computing now."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.utime(self._fd)

    def busy(self) -> tuple[int, int]:
        """(processes computing now, this one included; how many of them started before
        this one). Files whose owner died (their lock is free) are removed."""
        now = self.clock()
        count, older = 1, 0
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return count, older
        for entry in entries:
            if entry.name in (self.name, "") or entry.name.startswith("."):
                continue
            if not self._alive(entry):
                continue
            with contextlib.suppress(OSError, ValueError):
                if now - entry.stat().st_mtime <= ACTIVE_S:
                    count += 1
                    older += _started(entry.name) < _started(self.name)
        return count, older

    def _alive(self, entry: os.DirEntry[str]) -> bool:
        try:
            fd = os.open(entry.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True  # its owner holds the lock
        finally:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
        return False

    def leave(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.root / self.name)
        os.close(fd)


def _started(name: str) -> int:
    """The start time in a registry file's name (a name that is not ours sorts last)."""
    try:
        return int(name.rpartition(".")[2])
    except ValueError:
        return 2**63


class Balancer:
    """The thread count of one process: fixed, or a fair share re-read while it computes."""

    def __init__(
        self,
        registry: Registry | None,
        cores: int,
        fixed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry  # fixed processes register too: they take cores
        self.cores = cores
        self.fixed = fixed
        self.clock = clock
        self.threads = fixed or cores
        self._next = 0.0
        if self.registry is not None:
            self.registry.join()
            self.threads = self.choice().threads

    def choice(self) -> Choice:
        return plan(self.registry, self.cores, self.fixed)

    def tick(self) -> int | None:
        """Called before each decode: the new thread count when it changed, else None."""
        if self.registry is None:
            return None
        now = self.clock()
        if now < self._next:
            return None
        self._next = now + CHECK_S
        self.registry.beat()
        if self.fixed is not None:
            return None
        threads = self.choice().threads
        if threads == self.threads:
            return None
        self.threads = threads
        return threads

    def close(self) -> None:
        if self.registry is not None:
            self.registry.leave()
