"""Server-sent events (the streaming format of OpenAI-compatible servers), parsed from lines.

Only what the chat-completions stream uses: `data:` fields joined per event, comments and
other fields skipped. What a payload means is `engine/remote.py`'s business.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

DONE = "[DONE]"


def event_data(lines: Iterable[str]) -> Iterator[str]:
    """The data of each event, in order; an event ends at a blank line (or the stream's end)."""
    data: list[str] = []
    for line in lines:
        line = line.rstrip("\r")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):  # a comment: keep-alive pings
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


class NotJson(ValueError):
    """An event whose data is not a JSON object."""


def parse(data: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except ValueError:
        raise NotJson(data[:80]) from None
    if not isinstance(obj, dict):
        raise NotJson(data[:80])
    return obj
