"""Token counts on a remote server: its own tokenizer where it has an endpoint, else an estimate.

llama-server: `/tokenize`, `/detokenize`, and `/apply-template` (the chat prompt as the
server renders it, so prompt counts are exact). vLLM: `/tokenize` (text or messages) and
`/detokenize`. llama-cpp-python's server: `/extras/tokenize` and `/extras/detokenize`, with
the chat framing estimated. Any other server: an estimate of about 3 characters a token, on
the safe side for context budgets, and the engine says so in a notice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmcli.engine import Message
from llmcli.engine.http import Server
from llmcli.errors import ServerError

FRAME_PER_MESSAGE = 6  # role markers and separators of a chat turn, estimated
FRAME_PER_PROMPT = 4  # the assistant turn opener


class Tokens(Protocol):
    exact_prompts: bool  # False: count_prompt estimates the chat framing

    def tokenize(self, text: str) -> list[int]: ...
    def detokenize(self, tokens: Sequence[int]) -> str: ...
    def count_prompt(self, messages: Sequence[Message]) -> int: ...


def chat_body(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [m.as_dict() for m in messages]


def _ints(data: Any, key: str, server: Server) -> list[int]:
    values = data.get(key) if isinstance(data, dict) else None
    if not isinstance(values, list) or not all(isinstance(v, int) for v in values):
        raise ServerError(f"{server.shown}: the tokenizer's answer has no {key!r} list")
    return values


def _text(data: Any, key: str, server: Server) -> str:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, str):
        raise ServerError(f"{server.shown}: the detokenizer's answer has no {key!r} text")
    return value


@dataclass
class LlamaServerTokens:
    server: Server
    bos: str = ""  # the model's BOS text, from /props
    exact_prompts: bool = True

    def tokenize(self, text: str) -> list[int]:
        body = {"content": text, "add_special": False, "parse_special": False}
        return _ints(self.server.post("/tokenize", body), "tokens", self.server)

    def detokenize(self, tokens: Sequence[int]) -> str:
        data = self.server.post("/detokenize", {"tokens": list(tokens)})
        return _text(data, "content", self.server)

    def prompt_text(self, messages: Sequence[Message]) -> str:
        """The chat prompt exactly as the server renders it for a completion."""
        data = self.server.post("/apply-template", {"messages": chat_body(messages)})
        return _text(data, "prompt", self.server)

    def prompt_tokens(self, text: str) -> list[int]:
        """A rendered prompt's tokens as the server evaluates them (BOS added if the model
        wants one and the template did not write it)."""
        add = not (self.bos and text.startswith(self.bos))
        body = {"content": text, "add_special": add, "parse_special": True}
        return _ints(self.server.post("/tokenize", body), "tokens", self.server)

    def count_prompt(self, messages: Sequence[Message]) -> int:
        return len(self.prompt_tokens(self.prompt_text(messages)))


@dataclass
class VllmTokens:
    server: Server
    model: str
    exact_prompts: bool = True

    def tokenize(self, text: str) -> list[int]:
        body = {"model": self.model, "prompt": text, "add_special_tokens": False}
        return _ints(self.server.post("/tokenize", body), "tokens", self.server)

    def detokenize(self, tokens: Sequence[int]) -> str:
        data = self.server.post("/detokenize", {"model": self.model, "tokens": list(tokens)})
        return _text(data, "prompt", self.server)

    def count_prompt(self, messages: Sequence[Message]) -> int:
        body = {"model": self.model, "messages": chat_body(messages), "add_generation_prompt": True}
        return len(_ints(self.server.post("/tokenize", body), "tokens", self.server))


@dataclass
class LlamaCppPythonTokens:
    server: Server
    model: str
    exact_prompts: bool = False

    def tokenize(self, text: str) -> list[int]:
        data = self.server.post("/extras/tokenize", {"input": text, "model": self.model})
        return _ints(data, "tokens", self.server)

    def detokenize(self, tokens: Sequence[int]) -> str:
        data = self.server.post("/extras/detokenize", {"tokens": list(tokens), "model": self.model})
        return _text(data, "text", self.server)

    def count_prompt(self, messages: Sequence[Message]) -> int:
        body = sum(len(self.tokenize(m.content)) for m in messages)
        return body + FRAME_PER_MESSAGE * len(messages) + FRAME_PER_PROMPT


_PIECE = re.compile(r"\s+|[^\s]{1,3}")


@dataclass
class EstimatedTokens:
    """About 3 characters a token (real tokenizers average 3.5-4.5 on English): budgets stay
    safe. Pieces are remembered, so detokenize(tokenize(text)) == text for chunking."""

    exact_prompts: bool = False
    _ids: dict[str, int] = field(default_factory=dict)
    _pieces: list[str] = field(default_factory=list)

    def tokenize(self, text: str) -> list[int]:
        out = []
        for piece in _PIECE.findall(text):
            if piece not in self._ids:
                self._ids[piece] = len(self._pieces)
                self._pieces.append(piece)
            out.append(self._ids[piece])
        return out

    def detokenize(self, tokens: Sequence[int]) -> str:
        return "".join(self._pieces[t] for t in tokens if 0 <= t < len(self._pieces))

    def count_prompt(self, messages: Sequence[Message]) -> int:
        body = sum(len(self.tokenize(m.content)) for m in messages)
        return body + FRAME_PER_MESSAGE * len(messages) + FRAME_PER_PROMPT
