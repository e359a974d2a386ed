"""Generation settings, declared once: the keys a template's [settings], a session file's
settings and the chat's /set accept, with each one's type and range.

Values from TOML or JSON arrive typed (an int where a float is meant is fine, a bool or a
string is not); values typed at /set arrive as text and are parsed first. Either way what
comes out is what `GenerationOptions` takes: `stop = "###"` is one stop string, not three.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmcli.config import SEED_MAX


class SettingError(ValueError):
    """A setting that does not exist, or a value of the wrong type or out of range."""


@dataclass(frozen=True)
class Setting:
    name: str
    kind: type  # float, int, bool, or str (stop: one string or a list of them)
    ok: Callable[[Any], bool]
    valid: str  # the valid values, said to the user
    optional: bool = False  # None (or 'none' at /set) means "the default"


_DECLARED = (
    Setting("temperature", float, lambda v: 0 <= v <= 5, "a number from 0 to 5"),
    Setting("top_p", float, lambda v: 0 < v <= 1, "a number above 0, at most 1"),
    Setting("top_k", int, lambda v: v >= 0, "a whole number, 0 or more"),
    Setting("min_p", float, lambda v: 0 <= v <= 1, "a number from 0 to 1"),
    Setting("repeat_penalty", float, lambda v: v > 0, "a number above 0"),
    # what servers get instead: their window counts the prompt (GenerationOptions)
    Setting("server_repeat_penalty", float, lambda v: v > 0, "a number above 0", optional=True),
    Setting("max_tokens", int, lambda v: v >= 1, "a whole number, 1 or more", optional=True),
    Setting("seed", int, lambda v: 0 <= v <= SEED_MAX, f"0 to {SEED_MAX}", optional=True),
    Setting("stop", str, lambda v: all(v), "a string or a list of non-empty strings"),
    # the model's thinking switch (GenerationOptions.think); None: the model's own default
    Setting(
        "think", bool, lambda v: True, "on, off, or 'default' (the model's own)", optional=True
    ),
)
SETTINGS: dict[str, Setting] = {s.name: s for s in _DECLARED}
SET_KEYS = tuple(k for k in SETTINGS if k != "stop")  # what /set changes


def check_setting(name: str, value: Any) -> Any:
    """A typed value (from TOML or JSON) checked and normalised; SettingError otherwise."""
    setting = SETTINGS.get(name)
    if setting is None:
        raise SettingError(f"unknown setting {name!r} (settings: {', '.join(SETTINGS)})")
    if value is None and setting.optional:
        return None
    if setting.kind is str:
        return _stop_strings(setting, value)
    if setting.kind is bool:
        if not isinstance(value, bool):
            raise SettingError(f"{name} must be {setting.valid} (true or false), got {value!r}")
        return value
    number = _number(setting, value)
    if not setting.ok(number):
        raise SettingError(f"{name} must be {setting.valid}, got {value!r}")
    return number


def parse_setting(name: str, text: str) -> Any:
    """A value typed as text (`/set temperature 0.2`), parsed by the setting's type."""
    setting = SETTINGS.get(name)
    if setting is None:
        raise SettingError(f"unknown setting {name!r} (settings: {', '.join(SET_KEYS)})")
    unset = ("none", "default") if setting.kind is bool else ("none", "off", "default")
    if setting.optional and text.strip().lower() in unset:
        return None
    if setting.kind is str:
        return check_setting(name, text)
    if setting.kind is bool:
        flag = _FLAGS.get(text.strip().lower())
        if flag is None:
            raise SettingError(f"{name} must be {setting.valid}, got {text!r}")
        return flag
    try:
        return check_setting(name, setting.kind(text.strip()))
    except (ValueError, OverflowError):  # SettingError too: say what was typed
        raise SettingError(f"{name} must be {setting.valid}, got {text!r}") from None


_FLAGS = {"on": True, "true": True, "yes": True, "1": True}
_FLAGS |= {"off": False, "false": False, "no": False, "0": False}


def _number(setting: Setting, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingError(f"{setting.name} must be {setting.valid}, got {value!r}")
    if setting.kind is int:
        if not isinstance(value, int):
            raise SettingError(f"{setting.name} must be a whole number, got {value!r}")
        return value
    if not math.isfinite(value):
        raise SettingError(f"{setting.name} must be {setting.valid}, got {value!r}")
    return float(value)


def _stop_strings(setting: Setting, value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(s, str) for s in items):
        raise SettingError(f"{setting.name} must be {setting.valid}, got {value!r}")
    if not setting.ok(items):
        raise SettingError(f"{setting.name} must be {setting.valid}, got {value!r}")
    return tuple(items)
