"""Turn chat messages into the model's own prompt text (its GGUF `tokenizer.chat_template`)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llmcli.engine import Message

# Used only when a model carries no template; the engine warns when it is.
FALLBACK_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class ChatTemplateError(Exception):
    pass


def _raise(message: str) -> None:
    raise ChatTemplateError(message)


@lru_cache(maxsize=8)
def _compile(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    return env.from_string(source)


def render_chat(
    messages: Sequence[Message],
    template: str,
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
) -> str:
    """Render messages with a chat template, as transformers' apply_chat_template does."""
    try:
        compiled = _compile(template)
        context: dict[str, Any] = {
            "messages": [m.as_dict() for m in messages],
            "bos_token": bos_token,
            "eos_token": eos_token,
            "add_generation_prompt": add_generation_prompt,
        }
        return compiled.render(**context)
    except ChatTemplateError:
        raise
    except jinja2.TemplateError as exc:
        raise ChatTemplateError(f"the model's chat template failed: {exc}") from None


def render_messages(messages: Sequence[Message], template: str, bos: str, eos: str) -> str:
    """The model's template; for templates that refuse a system role, fold it into the user turn."""
    try:
        return render_chat(messages, template, bos_token=bos, eos_token=eos)
    except ChatTemplateError:
        if not messages or messages[0].role != "system" or len(messages) < 2:
            raise
        system, first, *rest = messages
        merged = Message(first.role, f"{system.content}\n\n{first.content}")
        return render_chat([merged, *rest], template, bos_token=bos, eos_token=eos)
