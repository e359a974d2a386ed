"""Which chat template a model is rendered with: its own, an override, a built-in format, none.

Order: `--chat-template` (or the model's entry in config.toml's [chat_templates]) > the GGUF's
`tokenizer.chat_template` > the first built-in format (`formats.toml`) whose markers are all
special tokens of the vocabulary > none: a base model, whose prompt is the text itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import tomllib

from llmcli.engine import Message
from llmcli.errors import ChatTemplateError

IsSpecial = Callable[[str], bool]  # is this text one special (control) token of the vocabulary?
Kind = Literal["own", "override", "builtin", "none"]
_MAX_TEMPLATE_BYTES = 1 << 20


@dataclass(frozen=True)
class ChatFormat:
    name: str
    template: str
    markers: tuple[str, ...]
    stops: tuple[str, ...]


@dataclass(frozen=True)
class TemplateChoice:
    kind: Kind
    name: str  # what to call it in messages: "tokenizer.chat_template", a path, a format name
    template: str | None  # None: a base model, the prompt is the text
    stops: tuple[str, ...] = ()  # end-of-turn markers, stops even when written as text

    def describe(self) -> str:
        return {
            "own": "own (tokenizer.chat_template)",
            "override": f"override ({self.name})",
            "builtin": f"built-in format {self.name}",
            "none": "none (base model: the text is completed)",
        }[self.kind]


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = resources.files("llmcli.engine").joinpath("formats.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


@lru_cache(maxsize=1)
def builtin_formats() -> dict[str, ChatFormat]:
    return {
        name: ChatFormat(name, f["template"], tuple(f["markers"]), tuple(f["stops"]))
        for name, f in _data()["formats"].items()
    }


def _stop_families() -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(markers, stops) of every format and stops-only family."""
    families = [*_data()["formats"].values(), *_data()["stops"].values()]
    return [(tuple(f["markers"]), tuple(f["stops"])) for f in families]


def choose_format(is_special: IsSpecial) -> ChatFormat | None:
    """The first built-in format whose markers are all real special tokens."""
    for fmt in builtin_formats().values():
        if all(is_special(m) for m in fmt.markers):
            return fmt
    return None


def template_stops(template: str) -> tuple[str, ...]:
    """End-of-turn markers of the formats a template writes: stops even as plain text."""
    stops: list[str] = []
    for markers, family_stops in _stop_families():
        if all(m in template for m in markers):
            stops += [s for s in family_stops if s not in stops]
    return tuple(stops)


def read_override(value: str) -> TemplateChoice:
    """`--chat-template VALUE`: a built-in format name, or a Jinja file."""
    formats = builtin_formats()
    if value in formats:
        fmt = formats[value]
        return TemplateChoice("builtin", fmt.name, fmt.template, fmt.stops)
    path = Path(value).expanduser()
    if not path.is_file():
        names = ", ".join(formats)
        raise ChatTemplateError(
            f"chat template {value!r} is neither a file nor a built-in format",
            hint=f"give a Jinja file, or one of: {names}",
        )
    try:
        data = path.read_bytes()[: _MAX_TEMPLATE_BYTES + 1]
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ChatTemplateError(f"cannot read chat template {path}: {exc}") from None
    if len(data) > _MAX_TEMPLATE_BYTES or not text.strip():
        raise ChatTemplateError(f"chat template {path} is empty or larger than 1 MiB")
    return TemplateChoice("override", str(path), text, template_stops(text))


# A base model's completion ends with its line: past it a small one drifts to a new topic
# and never stops (Gemma 3 270M: 1,000+ tokens of a travel guide after "Paris.", measured).
BASE_STOPS = ("\n",)
_TUNED = re.compile(r"instruct|chat|(^|[\W_])(it|sft|dpo|rlhf)([\W_]|$)", re.IGNORECASE)


def looks_tuned(metadata: Mapping[str, object]) -> bool:
    """The GGUF names a chat/instruct fine-tune (general.finetune, name or basename).

    Without it a file without a template is a base model even when its vocabulary has chat
    tokens: Gemma 3 270M base has `<start_of_turn>`, and in the gemma format it echoes the
    question forever (measured), while as plain text it completes it."""
    keys = ("general.finetune", "general.name", "general.basename")
    return any(isinstance(v, str) and _TUNED.search(v) for v in map(metadata.get, keys))


def choose_template(
    own: str | None, override: str | None, is_special: IsSpecial, *, tuned: bool = True
) -> TemplateChoice:
    if override:
        return read_override(override)
    if own:
        return TemplateChoice("own", "tokenizer.chat_template", own, template_stops(own))
    fmt = choose_format(is_special) if tuned else None
    if fmt is not None:
        return TemplateChoice("builtin", fmt.name, fmt.template, fmt.stops)
    return TemplateChoice("none", "", None, BASE_STOPS)


def raw_prompt(messages: Sequence[Message]) -> str:
    """A base model's prompt: the text to continue (system prompt first, turns in order)."""
    return "\n\n".join(m.content.strip() for m in messages if m.content.strip())


def thinking_support(template: str | None, is_special: IsSpecial) -> bool:
    """Whether the model thinks: the one detector of engine/reasoning.py (template markers,
    the `enable_thinking` switch, gpt-oss channels, a thinking tag in the vocabulary)."""
    from llmcli.engine.reasoning import detect

    return detect(template, is_special) is not None
