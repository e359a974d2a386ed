"""Thread-safe scripted engines standing in for servers: one can die mid-batch."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from llmcli.engine import GenerationOptions, Message, StreamEvent
from llmcli.errors import ServerError
from tests.fake_engine import FakeEngine


class ServerDown(ServerError):
    """What a remote engine raises when its server is gone (retryable)."""


@dataclass
class FakeServer(FakeEngine):
    """Answers after a short random delay; with `die_after`, every request from that one
    on fails as a dead server's would; `flaky` requests fail once each, then work."""

    name: str = "server"
    die_after: int | None = None
    flaky: frozenset[str] = frozenset()
    delay_s: float = 0.002
    wait_for: threading.Event | None = None  # hold requests until this is set (e.g. a death)
    died: threading.Event = field(default_factory=threading.Event)  # set at `died_at` failures
    died_at: int = 1
    served: list[str] = field(default_factory=list)
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _failed_once: set[str] = field(default_factory=set)

    def request(self, item: str) -> str:
        """One request: the item echoed with this server's name, or the server's failure."""
        if self.wait_for is not None:
            self.wait_for.wait(timeout=10)
        with self._lock:
            self.requests += 1
            dead = self.die_after is not None and self.requests > self.die_after
            flake = item in self.flaky and item not in self._failed_once
            if flake:
                self._failed_once.add(item)
        time.sleep(random.uniform(0.5, 1) * self.delay_s)
        if dead and self.requests - (self.die_after or 0) >= self.died_at:
            self.died.set()
        if dead:
            raise ServerDown(f"{self.name}: connection refused")
        if flake:
            raise ServerDown(f"{self.name}: 503 busy")
        with self._lock:
            self.served.append(item)
        return f"{item}@{self.name}"

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> Iterator[StreamEvent]:
        self.request(messages[-1].content)
        with self._lock:
            return super().stream(messages, options)

    def score(self, messages: Sequence[Message], candidates: Sequence[str]) -> list[float]:
        self.request(messages[-1].content)
        return super().score(messages, candidates)
