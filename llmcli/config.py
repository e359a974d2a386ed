"""Settings: flags > environment (LLM_*) > config.toml > built-in defaults."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomllib

from llmcli.env import Environment
from llmcli.errors import ConfigError, UsageError

CTX_MIN = 256
CTX_MAX = 1 << 20
CTX_STEP = 256  # llama.cpp pads n_ctx to 256; asking for multiples keeps buffers in step
THREADS_MAX = 512
URL_SCHEMES = ("http://", "https://")


@dataclass(frozen=True)
class EndpointConfig:
    """One `[endpoints.NAME]` table: a server used as `-m @NAME` (or `@NAME/model-id`)."""

    url: str
    model: str | None = None  # None: the server's only model
    api_key_env: str | None = None  # the variable that holds the key (never the key itself)
    ctx: int | None = None  # the context to assume when the server does not say


@dataclass(frozen=True)
class Settings:
    """What a run needs to know before it loads a model. None means 'decide later'."""

    model: str | None = None
    ctx: int | None = None
    gpu_layers: str = "auto"
    threads: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    aliases: Mapping[str, str] = field(default_factory=dict)
    endpoints: tuple[str, ...] = ()  # --endpoint / LLM_ENDPOINT: URLs or @NAMEs, in order
    named_endpoints: Mapping[str, EndpointConfig] = field(default_factory=dict)

    def merged(self, **overrides: Any) -> Settings:
        """Overlay the non-None values (flags, env) on these settings."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        return validate(replace(self, **clean))


_ENV_KEYS: dict[str, str] = {
    "model": "LLM_MODEL",
    "ctx": "LLM_CTX",
    "gpu_layers": "LLM_GPU_LAYERS",
    "threads": "LLM_THREADS",
    "temperature": "LLM_TEMPERATURE",
    "top_p": "LLM_TOP_P",
    "max_tokens": "LLM_MAX_TOKENS",
    "seed": "LLM_SEED",
}
_TYPES: dict[str, type] = {
    "model": str,
    "ctx": int,
    "gpu_layers": str,
    "threads": int,
    "temperature": float,
    "top_p": float,
    "max_tokens": int,
    "seed": int,
}
SETTING_NAMES = tuple(_TYPES)


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = _TYPES[name]
    try:
        if kind is int and isinstance(value, float):
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {name} must be {kind.__name__}, got {value!r}") from None


def read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def load_settings(env: Environment) -> Settings:
    """Defaults, then config.toml, then LLM_* variables. Flags are merged by the caller."""
    data = read_config_file(env.config_path)
    values: dict[str, Any] = {}
    for name in SETTING_NAMES:
        if name in data:
            values[name] = _coerce(name, data[name], str(env.config_path))
        var = _ENV_KEYS[name]
        if env.environ.get(var):
            values[name] = _coerce(name, env.environ[var], var)
    aliases = data.get("aliases", {})
    if not isinstance(aliases, dict) or not all(isinstance(v, str) for v in aliases.values()):
        raise ConfigError(f"{env.config_path}: [aliases] must map names to model specs")
    endpoints = split_endpoints(env.environ.get("LLM_ENDPOINT", ""))
    named = read_endpoints(data.get("endpoints", {}), str(env.config_path))
    settings = Settings(aliases=dict(aliases), endpoints=endpoints, named_endpoints=named, **values)
    return validate(settings)


def split_endpoints(value: str) -> tuple[str, ...]:
    """LLM_ENDPOINT: one URL, or several separated by commas or spaces (for fan-out)."""
    return tuple(part for part in value.replace(",", " ").split() if part)


def read_endpoints(table: Any, source: str) -> dict[str, EndpointConfig]:
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [endpoints] must hold tables like [endpoints.NAME]")
    found = {}
    for name, entry in table.items():
        where = f"{source}: [endpoints.{name}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise ConfigError(f'{where} needs url = "http://host:port"')
        unknown = set(entry) - {"url", "model", "api_key_env", "ctx"}
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}", hint=_ENDPOINT_KEYS)
        for key in ("model", "api_key_env"):
            if key in entry and not isinstance(entry[key], str):
                raise ConfigError(f"{where}: {key} must be a string")
        ctx = entry.get("ctx")
        if ctx is not None and (not isinstance(ctx, int) or isinstance(ctx, bool) or ctx < 1):
            raise ConfigError(f"{where}: ctx must be a positive number of tokens")
        check_url(entry["url"], where)
        found[name] = EndpointConfig(
            entry["url"], entry.get("model"), entry.get("api_key_env"), ctx
        )
    return found


_ENDPOINT_KEYS = "an endpoint takes url, model, api_key_env and ctx"


def check_url(url: str, where: str) -> None:
    if not url.startswith(URL_SCHEMES) or len(url) <= len("https://"):
        raise ConfigError(f"{where}: {url!r} is not an http:// or https:// URL")


def validate(settings: Settings) -> Settings:
    if settings.ctx is not None:
        if not CTX_MIN <= settings.ctx <= CTX_MAX:
            raise UsageError(f"--ctx must be between {CTX_MIN} and {CTX_MAX}, got {settings.ctx}")
        rounded = -(-settings.ctx // CTX_STEP) * CTX_STEP
        settings = replace(settings, ctx=rounded)
    if settings.threads is not None and not 1 <= settings.threads <= THREADS_MAX:
        raise UsageError(f"--threads must be between 1 and {THREADS_MAX}, got {settings.threads}")
    gl = settings.gpu_layers.strip().lower()
    if gl not in ("auto", "all") and not (gl.isdigit() or gl == "-1"):
        raise UsageError(f"--gpu-layers must be auto, all or a number, got {settings.gpu_layers!r}")
    if settings.temperature is not None and not 0 <= settings.temperature <= 5:
        raise UsageError(f"--temperature must be between 0 and 5, got {settings.temperature}")
    if settings.top_p is not None and not 0 < settings.top_p <= 1:
        raise UsageError(f"--top-p must be in (0, 1], got {settings.top_p}")
    if settings.max_tokens is not None and settings.max_tokens < 1:
        raise UsageError(f"--max-tokens must be at least 1, got {settings.max_tokens}")
    for endpoint in settings.endpoints:
        if not endpoint.startswith("@"):
            check_url(endpoint, "--endpoint")
    return settings


def write_config_value(env: Environment, key: str, value: Any) -> Path:
    """Set one key (dotted for tables, e.g. 'aliases.small') in config.toml, atomically."""
    import tomli_w

    path = env.config_path
    data = read_config_file(path)
    table = data
    *parents, leaf = key.split(".")
    for part in parents:
        table = table.setdefault(part, {})
    if value is None:
        table.pop(leaf, None)
    else:
        table[leaf] = value
    atomic_write_text(path, tomli_w.dumps(data))
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file and rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def setting_fields() -> list[str]:
    tables = ("aliases", "endpoints", "named_endpoints")
    return [f.name for f in fields(Settings) if f.name not in tables]
