"""What a model showed it can do, remembered between runs (`<cache>/model-hints.json`).

A script calling `llm translate --lines` in a loop should not rediscover on every run that
its model cannot number a batch of lines back (each failed batch is a wasted model call).
Hints are keyed by the model file as the KV cache sees it (path, size, mtime), so a replaced
file starts fresh. A missing, unreadable or corrupt file is no hints; writes are atomic and
the last writer wins, which is harmless for a hint.
"""

from __future__ import annotations

import json
from pathlib import Path

FILE = "model-hints.json"


def load_hint(cache_dir: Path | None, model: Path, name: str) -> int | None:
    """The remembered value, or None."""
    if cache_dir is None:
        return None
    value = _read(cache_dir).get(_key(model), {}).get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def save_hint(cache_dir: Path | None, model: Path, name: str, value: int) -> None:
    from llmcli.config import atomic_write_text

    if cache_dir is None:
        return
    try:
        hints = _read(cache_dir)
        hints.setdefault(_key(model), {})[name] = value
        atomic_write_text(cache_dir / FILE, json.dumps(hints, indent=1, sort_keys=True) + "\n")
    except OSError:
        pass  # a read-only cache costs speed next time, nothing else


def _key(model: Path) -> str:
    from llmcli.engine.kvcache import model_identity

    try:
        return model_identity(model)
    except OSError:
        return str(model)


def _read(cache_dir: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads((cache_dir / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}
