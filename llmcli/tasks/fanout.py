"""Fan-out: work items over several engines, N requests in flight on each, order kept.

Servers batch concurrent requests (llama-server `-np`, vLLM's continuous batching), so a batch
job goes faster with several in flight, and faster again spread over several servers. Each
server is a `Lane` with `parallel` worker threads; the items wait in one queue, so a fast
server takes more of them. A request that fails for a reason another try may fix (the
connection, the server: see `retryable`) goes back to the queue after a backoff; a lane whose
requests fail `dead_after` times in a row is taken out and its items go to the others. Every
item gets exactly one result, yielded in input order; when an item fails `attempts` times, or
no lane is left, the run stops with that error.

`Sequential` is the same interface over one in-process engine (not thread-safe): a plain loop
on the calling thread. Nothing here prints: warnings are handed to `warn` on the caller's
thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from llmcli.engine import Engine
from llmcli.errors import LlmError, ServerError, StreamBrokenError
from llmcli.tasks import WarnFn, no_warning

T = TypeVar("T")
R = TypeVar("R")
Work = Callable[[Engine, T], R]  # one item on one engine; runs on a worker thread
READ_AHEAD = 256


class Mapper(Protocol):
    """How a task runs its independent calls: in order, sequentially or fanned out."""

    def map(self, work: Callable[[Engine, T], R], items: Iterable[T]) -> Iterator[R]: ...
    def detail(self) -> str: ...


@dataclass
class Sequential:
    """One in-process engine: one call after another, on this thread."""

    engine: Engine

    def map(self, work: Callable[[Engine, T], R], items: Iterable[T]) -> Iterator[R]:
        for item in items:
            yield work(self.engine, item)

    def detail(self) -> str:
        return ""


@dataclass
class Lane:
    """One server (engine) and its record in this run."""

    name: str
    engine: Engine
    done: int = 0
    failures: int = 0  # in a row
    dead: bool = False
    started: float = field(default_factory=time.monotonic)

    def rate(self, now: float) -> float:
        return self.done / max(now - self.started, 1e-6)


def retryable(exc: BaseException) -> bool:
    """Worth another try, maybe elsewhere: the connection or the server failed, not the input.
    An error may decide for itself with a `retryable` attribute."""
    own = getattr(exc, "retryable", None)
    if isinstance(own, bool):
        return own
    return isinstance(exc, ServerError | StreamBrokenError | OSError)


@dataclass
class FanOut:
    lanes: Sequence[Lane]
    parallel: int = 4  # requests in flight per lane
    attempts: int = 5  # tries of one item before the run fails
    dead_after: int = 3  # failures in a row that take a lane out
    backoff_s: float = 0.5  # first retry delay; doubles with each failure in a row
    warn: WarnFn = no_warning
    sleep: Callable[[float], None] = time.sleep

    def map(self, work: Callable[[Engine, T], R], items: Iterable[T]) -> Iterator[R]:
        return _Run(self, work).results(iter(items))

    def summary(self) -> str:
        """What each server did, for the line after a run."""
        now = time.monotonic()
        return ", ".join(
            f"{lane.name} {lane.done} ({'then down' if lane.dead else f'{lane.rate(now):.1f}/s'})"
            for lane in self.lanes
        )

    def detail(self) -> str:
        """Throughput per server, for the progress display."""
        now = time.monotonic()
        parts = [
            f"{lane.name} {'down' if lane.dead else f'{lane.rate(now):.1f}/s'}"
            for lane in self.lanes
        ]
        return ", ".join(parts)


@dataclass
class _Item(Generic[T]):
    index: int
    value: T
    tries: int = 0


class _Run(Generic[T, R]):
    """The state of one `map` call, shared by its threads under one condition."""

    def __init__(self, fan: FanOut, work: Callable[[Engine, T], R]) -> None:
        self.fan = fan
        self.work = work
        self.cond = threading.Condition()
        self.todo: deque[_Item[T]] = deque()
        self.done: dict[int, R] = {}
        self.fed = 0  # items read from the input
        self.yielded = 0  # results handed out, in order
        self.exhausted = False
        self.error: BaseException | None = None
        self.stopping = False
        self.warnings: list[str] = []
        # items read ahead of the oldest unfinished one: room for the other servers to go on
        # while a slow one holds it (the output waits for it, in order)
        self.window = max(READ_AHEAD, 4 * max(1, fan.parallel) * len(fan.lanes))

    def results(self, items: Iterator[T]) -> Iterator[R]:
        if not self.fan.lanes:
            raise LlmError("no server to send the work to")
        for lane in self.fan.lanes:
            if not lane.done:  # the rate counts from a lane's first run (summarize has rounds)
                lane.started = time.monotonic()
        threads = [threading.Thread(target=self._feed, args=(items,), daemon=True)]
        threads += [
            threading.Thread(target=self._worker, args=(lane,), daemon=True)
            for lane in self.fan.lanes
            for _ in range(max(1, self.fan.parallel))
        ]
        for thread in threads:
            thread.start()
        clean = False
        try:
            yield from self._in_order()
            clean = True
        finally:
            with self.cond:
                self.stopping = True
                self.cond.notify_all()
            if clean:  # the workers are idle: let them go; else they may be mid-request
                for thread in threads[1:]:
                    thread.join()
            self._flush_warnings()

    def _in_order(self) -> Iterator[R]:
        while True:
            with self.cond:
                while self.yielded not in self.done and self.error is None:
                    if self.exhausted and self.yielded >= self.fed:
                        return
                    self.cond.wait(0.2)  # a timeout keeps Ctrl-C prompt
                if self.error is not None:
                    raise self.error
                result = self.done.pop(self.yielded)
                self.yielded += 1
                self.cond.notify_all()  # the feeder may read further ahead now
            self._flush_warnings()
            yield result

    def _feed(self, items: Iterator[T]) -> None:
        """Read items ahead of the workers, at most `window` beyond what is yielded."""
        try:
            for value in items:
                with self.cond:
                    while self.fed - self.yielded >= self.window:
                        if self.stopping:
                            return
                        self.cond.wait(0.2)
                    self.todo.append(_Item(self.fed, value))
                    self.fed += 1
                    self.cond.notify_all()
        except Exception as exc:  # reading the input failed: the run fails with it
            with self.cond:
                self.error = exc
                self.cond.notify_all()
            return
        with self.cond:
            self.exhausted = True
            self.cond.notify_all()

    def _worker(self, lane: Lane) -> None:
        try:
            self._serve(lane)
        except BaseException as exc:  # a bug here must stop the run, not hang it
            with self.cond:
                self.error = self.error or exc
                self.cond.notify_all()

    def _serve(self, lane: Lane) -> None:
        while True:
            with self.cond:
                while not (self.todo or self.stopping or lane.dead):
                    self.cond.wait()
                if self.stopping or lane.dead:
                    return
                item = self.todo.popleft()
            try:
                result = self.work(lane.engine, item.value)
            except Exception as exc:
                delay = self._failed(lane, item, exc)
                if delay:
                    self.fan.sleep(delay)
                continue
            with self.cond:
                self.done[item.index] = result
                lane.done += 1
                lane.failures = 0
                self.cond.notify_all()

    def _failed(self, lane: Lane, item: _Item[T], exc: Exception) -> float:
        """Requeue a failed item (or fail the run); the delay before this worker goes on."""
        with self.cond:
            self.cond.notify_all()
            if self.stopping:
                return 0.0
            if not retryable(exc):
                self.error = self.error or exc
                return 0.0
            lane.failures += 1
            if lane.dead or lane.failures >= self.fan.dead_after:
                # the server is to blame, not the item: no try counted (in a race the same
                # item could otherwise use up its tries on dying servers and hide that they
                # all went down)
                self.todo.appendleft(item)
                self._take_out(lane, exc)
                return 0.0
            item.tries += 1
            if item.tries >= self.fan.attempts:
                self.error = self.error or _gave_up(item, exc)
                return 0.0
            self.todo.appendleft(item)
            after = getattr(exc, "retry_after", None)  # a server's Retry-After, when known
            if isinstance(after, int | float) and after > 0:
                return float(after)
            return self.fan.backoff_s * 2.0 ** (lane.failures - 1)

    def _take_out(self, lane: Lane, exc: Exception) -> None:
        """Mark a lane dead (once; under the lock); the run fails when none is left."""
        if lane.dead:
            return
        lane.dead = True
        self.warnings.append(
            f"{lane.name} stopped answering ({_why(exc)}); its work goes to the other servers"
        )
        if all(other.dead for other in self.fan.lanes):
            self.error = self.error or _all_down(self.fan.lanes, exc)

    def _flush_warnings(self) -> None:
        with self.cond:
            pending, self.warnings = self.warnings, []
        for message in pending:
            self.fan.warn(message)


def _why(exc: BaseException) -> str:
    return exc.message if isinstance(exc, LlmError) else f"{type(exc).__name__}: {exc}"


def _gave_up(item: _Item[Any], exc: BaseException) -> LlmError:
    return _like(exc, f"item {item.index + 1} failed {item.tries} times; last: {_why(exc)}")


def _all_down(lanes: Sequence[Lane], exc: BaseException) -> LlmError:
    which = "the server" if len(lanes) == 1 else f"all {len(lanes)} servers"
    return _like(exc, f"{which} stopped answering; last error: {_why(exc)}")


def _like(exc: BaseException, message: str) -> LlmError:
    """An error for the whole run with the last failure's exit code and hint."""
    error = LlmError(message, hint=exc.hint if isinstance(exc, LlmError) else None)
    if isinstance(exc, LlmError):
        error.exit_code = exc.exit_code
    return error
