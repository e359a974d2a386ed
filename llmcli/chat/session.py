"""A chat session: the history, the context window over it, and its JSON form.

The history is never cut: turns that no longer fit the context only leave the *window*
(`start` moves forward), so a saved session keeps everything that was said. The window start
only moves forward, in steps, so the prompt prefix stays the same between turns and the engine
can reuse its KV cache for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from llmcli.engine import Message
from llmcli.errors import ContextOverflowError, LlmError

FORMAT = "llmcli.chat/1"
# When turns must leave the window, drop until the prompt uses at most this share of the room:
# one re-evaluation then buys several cheap turns instead of one per turn.
REFILL = 0.75


class TokenCounter(Protocol):
    n_ctx: int

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int: ...


class SessionError(LlmError):
    """A session file that cannot be read or used."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Fit:
    prompt: list[Message]
    tokens: int
    dropped: int  # exchanges that left the window for this turn


@dataclass
class Session:
    name: str
    system: str | None = None
    messages: list[Message] = field(default_factory=list)  # user/assistant, in order
    start: int = 0  # first message inside the context window
    model: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # /set overrides
    created: str = field(default_factory=now)
    updated: str = field(default_factory=now)

    # -- the conversation -------------------------------------------------------------------

    @property
    def exchanges(self) -> int:
        return sum(1 for m in self.messages if m.role == "user")

    def head(self) -> list[Message]:
        return [Message("system", self.system)] if self.system else []

    def prompt(self, user_text: str) -> list[Message]:
        return [*self.head(), *self.messages[self.start :], Message("user", user_text)]

    def add_exchange(self, user_text: str, reply: str, reasoning: str = "") -> None:
        self.messages += [Message("user", user_text), Message("assistant", reply, reasoning)]
        self.touch()

    def undo(self) -> str | None:
        """Drop the last exchange; its user text, or None when there is nothing to drop."""
        last = self._last_user_index()
        if last is None:
            return None
        text = self.messages[last].content
        del self.messages[last:]
        self.start = min(self.start, last)
        self.touch()
        return text

    def last_reply(self) -> str | None:
        message = self.last_answer()
        return message.content if message else None

    def last_answer(self) -> Message | None:
        for message in reversed(self.messages):
            if message.role == "assistant":
                return message
        return None

    def _last_user_index(self) -> int | None:
        for i in range(len(self.messages) - 1, -1, -1):
            if self.messages[i].role == "user":
                return i
        return None

    def touch(self) -> None:
        self.updated = now()

    # -- the context budget -----------------------------------------------------------------

    def fit(self, engine: TokenCounter, user_text: str, reserve: int) -> Fit:
        """The prompt for the next turn; oldest exchanges leave the window when it is full.

        A message that cannot fit even alone (with the system prompt) is refused with its
        token count; the history is then left as it was.
        """
        room = engine.n_ctx - reserve
        alone = engine.count_prompt_tokens([*self.head(), Message("user", user_text)])
        if alone > room:
            raise ContextOverflowError(
                alone,
                room,
                what="this message",
                hint=f"the context is {engine.n_ctx:,} tokens with {reserve:,} kept for the "
                "answer; shorten it, or restart with a larger --ctx",
            )
        prompt = self.prompt(user_text)
        used = engine.count_prompt_tokens(prompt)
        if used <= room:
            return Fit(prompt, used, 0)
        dropped = 0
        target = int(room * REFILL)
        while used > target and self.start < len(self.messages):
            self.start = self._next_turn(self.start)
            dropped += 1
            prompt = self.prompt(user_text)
            used = engine.count_prompt_tokens(prompt)
        return Fit(prompt, used, dropped)

    def _next_turn(self, index: int) -> int:
        """Index of the user message after the exchange starting at index."""
        for i in range(index + 1, len(self.messages)):
            if self.messages[i].role == "user":
                return i
        return len(self.messages)

    # -- JSON -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "model": self.model,
            "system": self.system,
            "settings": dict(self.settings),
            "created": self.created,
            "updated": self.updated,
            "context_start": self.start,
            "messages": [m.as_dict() for m in self.messages],
        }

    @classmethod
    def from_dict(cls, data: Any, name: str) -> Session:
        """Validate everything: a file that does not parse is reported, never half-loaded."""
        if not isinstance(data, Mapping):
            raise ValueError("not a JSON object")
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown format {data.get('format')!r} (expected {FORMAT!r})")
        messages = [_message(i, m) for i, m in enumerate(_get(data, "messages", list))]
        start = _get(data, "context_start", int, 0)
        if not 0 <= start <= len(messages):
            raise ValueError(f"context_start {start} is outside the {len(messages)} messages")
        return cls(
            name=name,
            system=_get(data, "system", str, None),
            messages=messages,
            start=start,
            model=_get(data, "model", str, None),
            settings=_settings(_get(data, "settings", dict, {})),
            created=_get(data, "created", str, now()),
            updated=_get(data, "updated", str, now()),
        )


_MISSING = object()


def _get(data: Mapping[str, Any], key: str, kind: type, default: Any = _MISSING) -> Any:
    value = data.get(key)
    if value is None:
        if default is _MISSING:
            raise ValueError(f"{key!r} is missing")
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{key!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _message(index: int, item: Any) -> Message:
    if (
        not isinstance(item, Mapping)
        or item.get("role") not in ("user", "assistant")
        or not isinstance(item.get("content"), str)
    ):
        raise ValueError(f"message {index} needs role user/assistant and text content")
    reasoning = item.get("reasoning_content", "")
    if not isinstance(reasoning, str):
        raise ValueError(f"message {index}: reasoning_content must be text")
    return Message(item["role"], item["content"], reasoning)


def _settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """/set values as saved: each one a known setting of the right type (a file edited by
    hand or by another version must not reach GenerationOptions unchecked)."""
    from llmcli.prompts.settings import SettingError, check_setting

    try:
        return {key: check_setting(key, value) for key, value in values.items()}
    except SettingError as exc:
        raise ValueError(f"settings: {exc}") from None
