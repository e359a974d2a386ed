"""Turn chat messages into the model's own prompt text, as transformers renders its template.

The template is the GGUF's `tokenizer.chat_template`, a `--chat-template` file, or a
built-in format (`engine/formats.py`). Variables are transformers' `render_jinja_template`
ones: `messages`, `add_generation_prompt`, `bos_token`, `eos_token`, `tools` and `documents`
(None), and `enable_thinking` only when the caller sets thinking on or off.
tests/test_chat_templates.py holds every real template of the sdist to that reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import jinja2

from llmcli.engine import Message
from llmcli.engine.sandbox import (
    MIN_CHARS,
    TIME_LIMIT_S,
    Budget,
    ChatEnvironment,
    RenderLimit,
    bounded_render,
)
from llmcli.errors import ChatTemplateError

# Names a message's reasoning goes by; templates read the first (gpt-oss reads `thinking`).
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


@lru_cache(maxsize=1)
def _environment() -> ChatEnvironment:
    return ChatEnvironment()


@lru_cache(maxsize=16)
def _compiled(source: str) -> jinja2.Template:
    return _environment().from_string(source)


def compile_template(source: str, name: str = "chat template") -> jinja2.Template:
    """Compile once (cached); a syntax error is one line naming the template (exit 3)."""
    try:
        return _compiled(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ChatTemplateError(
            f"{name} does not compile: {exc.message} (line {exc.lineno})",
            hint="override it with --chat-template FILE (or a built-in format name)",
        ) from None
    except (jinja2.TemplateError, RecursionError, MemoryError) as exc:
        raise ChatTemplateError(f"{name} does not compile: {exc}") from None


def _message_dicts(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Plain dicts, reasoning copied under each name templates read (as transformers does)."""
    out = []
    for m in messages:
        d: dict[str, Any] = dict(m.as_dict())
        reasoning = next((d[k] for k in _REASONING_FIELDS if d.get(k) is not None), None)
        if reasoning is not None:
            d = {"thinking": reasoning, **d, "reasoning_content": reasoning}
        out.append(d)
    return out


def render_chat(
    messages: Sequence[Message],
    template: str,
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    think: bool | None = None,
    name: str = "the model's chat template",
    time_s: float = TIME_LIMIT_S,
) -> str:
    """Render messages with a chat template, bounded in time and size (exit 3 past it)."""
    compiled = compile_template(template, name)
    dicts = _message_dicts(messages)
    context: dict[str, Any] = {
        "messages": dicts,
        "tools": None,
        "documents": None,
        "add_generation_prompt": add_generation_prompt,
        "bos_token": bos_token,
        "eos_token": eos_token,
    }
    if think is not None:
        context["enable_thinking"] = think
    input_chars = sum(len(str(d.get("content", ""))) for d in dicts)
    budget = Budget(time_s=time_s, max_chars=max(MIN_CHARS, 4 * input_chars))
    try:
        return bounded_render(compiled, budget, **context)
    except ChatTemplateError as exc:
        raise type(exc)(f"{name}: {exc.message}") from None
    except RecursionError:
        raise ChatTemplateError(f"{name} recurses without end") from None
    except MemoryError:
        raise ChatTemplateError(f"{name} ran out of memory") from None
    except Exception as exc:  # a template is code from a model file: any failure is its own
        raise ChatTemplateError(f"{name} failed: {_describe(exc)}") from None


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    detail = text[0] if text else ""
    if isinstance(exc, jinja2.TemplateError):
        return detail or type(exc).__name__
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def render_messages(
    messages: Sequence[Message],
    template: str,
    bos: str,
    eos: str,
    *,
    think: bool | None = None,
    name: str = "the model's chat template",
) -> str:
    """The model's template; for templates that refuse a system role, fold it into the user turn."""
    compile_template(template, name)  # a syntax error is no refusal of the system role
    try:
        return render_chat(messages, template, bos_token=bos, eos_token=eos, think=think, name=name)
    except RenderLimit:
        raise
    except ChatTemplateError:
        if not messages or messages[0].role != "system" or len(messages) < 2:
            raise
        system, first, *rest = messages
        merged = Message(first.role, f"{system.content}\n\n{first.content}")
        return render_chat(
            [merged, *rest], template, bos_token=bos, eos_token=eos, think=think, name=name
        )
