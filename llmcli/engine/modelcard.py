"""What a model file can do, for `llm models show`: its chat template and thinking support.

The built-in format and the `<think>` token depend on the vocabulary, so it is loaded
(llama.cpp's vocab-only load: no weights, about 0.3 s); the rest comes from the header.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmcli.engine.formats import TemplateChoice, choose_template, looks_tuned, thinking_support
from llmcli.engine.gguf import GGUFInfo
from llmcli.errors import LlmError


@dataclass(frozen=True)
class ChatCard:
    template: TemplateChoice | None  # None: the vocabulary could not be read
    thinking: bool
    problem: str | None = None  # why the vocabulary could not be read

    def describe(self) -> str:
        if self.template is None:
            return f"unknown ({self.problem})"
        return self.template.describe()


def chat_card(info: GGUFInfo, override: str | None = None) -> ChatCard:
    from llmcli.engine import _native

    try:
        native = _native.load(
            Path(info.path), n_ctx=256, gpu="0", threads=1, sink=_native.LogSink(), vocab_only=True
        )
    except LlmError as exc:
        if override is None and info.chat_template:
            own = choose_template(info.chat_template, None, lambda _: False)
            return ChatCard(own, thinking_support(own.template, lambda _: False))
        return ChatCard(None, thinking_support(info.chat_template, lambda _: False), exc.message)
    try:

        def special(text: str) -> bool:
            return native.special_token(text) is not None

        tuned = looks_tuned(info.metadata)
        choice = choose_template(info.chat_template, override, special, tuned=tuned)
        return ChatCard(choice, thinking_support(choice.template, special))
    finally:
        native.close()
