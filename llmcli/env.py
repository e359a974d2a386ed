"""The one Environment object: streams, TTY flags, directories, variables.

Everything that touches the outside world gets it passed in, so tests swap it instead of
patching globals (the httpie pattern).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from llmcli.engine import Engine, EngineParams
    from llmcli.engine.remote import Endpoint

EngineFactory = Callable[["EngineParams"], "Engine"]
RemoteFactory = Callable[["Endpoint"], "Engine"]

APP_NAME = "llmcli"


def _default_engine_factory(params: EngineParams) -> Engine:
    from llmcli.engine.llama import LlamaEngine

    return LlamaEngine.load(params)


def _default_remote_factory(endpoint: Endpoint) -> Engine:
    from llmcli.engine.remote import RemoteEngine

    return RemoteEngine.open(endpoint)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class Environment:
    stdin: IO[str] = field(default_factory=lambda: sys.stdin)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    stdin_isatty: bool | None = None
    stdout_isatty: bool | None = None
    stderr_isatty: bool | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    config_dir: Path | None = None
    data_dir: Path | None = None
    cache_dir: Path | None = None
    engine_factory: EngineFactory = _default_engine_factory
    remote_factory: RemoteFactory = _default_remote_factory  # servers (--endpoint, @NAME)
    width: int | None = None  # pins Rich's width in tests
    debug: bool = False
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.stdin_isatty is None:
            self.stdin_isatty = _isatty(self.stdin)
        if self.stdout_isatty is None:
            self.stdout_isatty = _isatty(self.stdout)
        if self.stderr_isatty is None:
            self.stderr_isatty = _isatty(self.stderr)
        self.config_dir = self.config_dir or self._dir("LLM_CONFIG_DIR", "user_config_dir")
        self.data_dir = self.data_dir or self._dir("LLM_DATA_DIR", "user_data_dir")
        self.cache_dir = self.cache_dir or self._dir("LLM_CACHE_DIR", "user_cache_dir")

    def _dir(self, var: str, kind: str) -> Path:
        if self.environ.get(var):
            return Path(self.environ[var]).expanduser()
        import platformdirs

        return Path(getattr(platformdirs, kind)(APP_NAME, appauthor=False))

    @property
    def no_color(self) -> bool:
        return bool(self.environ.get("NO_COLOR"))

    @property
    def config_path(self) -> Path:
        assert self.config_dir is not None
        return self.config_dir / "config.toml"

    @property
    def templates_dir(self) -> Path:
        assert self.config_dir is not None
        return self.config_dir / "templates"

    @property
    def sessions_dir(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "sessions"
