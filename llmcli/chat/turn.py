"""One chat turn against the engine, and the state a chat carries between turns.

Shared by the REPL and the scripted (piped) chat, so both budget, stream, keep interrupted
replies and save the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmcli.chat.session import Fit, Session
from llmcli.chat.store import SessionStore
from llmcli.env import Environment
from llmcli.errors import LlmError

if TYPE_CHECKING:
    from llmcli.engine import GenerationOptions, Stats
    from llmcli.output.stream import TextSink
    from llmcli.runtime import LoadedModel, ModelLoader, Target

Notify = Callable[[str], None]


@dataclass(frozen=True)
class TurnResult:
    text: str
    stats: Stats | None
    interrupted: bool


@dataclass
class Chat:
    """A session, the model it talks to, and the options of its replies."""

    env: Environment
    loader: ModelLoader
    session: Session
    store: SessionStore
    base_options: GenerationOptions
    autosave: bool = True
    show_stats: bool = False
    last_stats: Stats | None = None
    _model: LoadedModel | None = None
    _resolved: Target | None = None

    # -- the model --------------------------------------------------------------------------

    @property
    def model(self) -> LoadedModel:
        assert self._model is not None, "open() first"
        return self._model

    def open(self, spec: str | None) -> LoadedModel:
        return self._load(self.loader.resolve(spec))

    def _load(self, resolved: Target) -> LoadedModel:
        self._model = self.loader.load(resolved)
        self._resolved = resolved
        self.session.model = self._model.spec
        return self._model

    def switch_model(self, spec: str) -> LoadedModel:
        """Resolve once (pulling it if needed; a typo keeps the current model), then swap;
        reload the old model on failure."""
        resolved = self.loader.resolve(spec)
        previous = self._resolved
        self.close()
        try:
            return self._load(resolved)
        except LlmError:
            if previous is not None:
                self._load(previous)
            raise

    def close(self) -> None:
        model, self._model = self._model, None
        if model is not None:
            model.engine.close()

    # -- options ----------------------------------------------------------------------------

    def options(self) -> GenerationOptions:
        return dataclasses.replace(self.base_options, **self.session.settings)

    # -- turns ------------------------------------------------------------------------------

    def ask(self, text: str, sink: TextSink, notify: Notify) -> TurnResult:
        """Fit the prompt, stream the reply into the sink, record the exchange.

        Ctrl-C stops the reply; the text so far is kept in the history like a finished one.
        """
        from llmcli.engine import answer_reserve
        from llmcli.output.stream import feed

        engine = self.model.engine
        options = self.options()
        fit = self.session.fit(engine, text, answer_reserve(engine, options))
        if fit.dropped:
            notify(self._dropped_line(fit))
        parts: list[str] = []
        stats = None
        interrupted = False
        events = engine.stream(fit.prompt, options)
        try:
            stats = feed(events, sink, parts)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            _close(events)
            # Recorded before the screen is finished: a second Ctrl-C there loses nothing.
            self.session.add_exchange(text, "".join(parts))
            self.last_stats = stats
            sink.finish()
        self.save()
        return TurnResult("".join(parts), stats, interrupted)

    def _dropped_line(self, fit: Fit) -> str:
        turns = "exchange" if fit.dropped == 1 else "exchanges"
        return (
            f"context full: the oldest {fit.dropped} {turns} left the model's view "
            f"({fit.tokens:,} of {self.model.engine.n_ctx:,} tokens now; the session keeps them)"
        )

    def save(self) -> None:
        if self.autosave and self.session.messages:
            self.store.save(self.session)

    def describe(self) -> dict[str, Any]:
        engine = self.model.engine
        return {
            "model": self.model.spec,
            "file": self.model.path.name,
            "ctx": engine.n_ctx,
            "session": self.session.name,
            **({"endpoint": self.model.endpoint} if self.model.endpoint else {}),
        }


def _close(events: object) -> None:
    close = getattr(events, "close", None)
    if callable(close):
        close()
