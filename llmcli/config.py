"""Settings: flags > environment (LLM_*) > config.toml > built-in defaults."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
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
SEED_MAX = 2**32 - 1  # llama.cpp's seed is a uint32: larger values wrapped, -1 meant random

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
    chat_template: str | None = None  # every model: a Jinja file or a built-in format name
    aliases: Mapping[str, str] = field(default_factory=dict)
    endpoints: tuple[str, ...] = ()  # --endpoint / LLM_ENDPOINT: URLs or @NAMEs, in order
    named_endpoints: Mapping[str, EndpointConfig] = field(default_factory=dict)
    # [chat_templates]: model spec, alias or file name -> a Jinja file or built-in format name
    chat_templates: Mapping[str, str] = field(default_factory=dict)

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
    "chat_template": "LLM_CHAT_TEMPLATE",
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
    "chat_template": str,
}
SETTING_NAMES = tuple(_TYPES)
# Every top-level key config.toml may hold: the settings above, and the tables read elsewhere
# ([aliases] here, [endpoints.NAME] by the remote engine). A key not declared here is reported
# as unknown (a typo would otherwise be silently ignored): add new keys and tables here.
CONFIG_TABLES = ("aliases", "chat_templates", "endpoints")
CONFIG_KEYS = frozenset((*SETTING_NAMES, *CONFIG_TABLES))

Warn = Callable[[str], None]


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = _TYPES[name]
    try:
        # from the file a value has a TOML type: a table is no model, true is no temperature
        if isinstance(value, bool | dict | list) or (kind is int and isinstance(value, float)):
            raise ValueError
        if kind is str and not isinstance(value, str):
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {name} must be {kind.__name__}, got {value!r}") from None


def read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        # utf-8-sig: editors on Windows save a BOM, which TOML itself does not allow
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def load_settings(env: Environment, warn: Warn | None = None) -> Settings:
    """Defaults, then config.toml, then LLM_* variables. Flags are merged by the caller.
    Unknown keys and unusable aliases are reported through `warn` and skipped."""
    data = read_config_file(env.config_path)
    warn = warn or (lambda message: None)
    for message in unknown_keys(data, env.config_path):
        warn(message)
    values: dict[str, Any] = {}
    for name in SETTING_NAMES:
        if name in data:
            values[name] = _coerce(name, data[name], str(env.config_path))
        var = _ENV_KEYS[name]
        if env.environ.get(var):
            values[name] = _coerce(name, env.environ[var], var)
    aliases = _aliases(data.get("aliases", {}), env.config_path, warn)
    templates = data.get("chat_templates", {})
    if not isinstance(templates, dict) or not all(isinstance(v, str) for v in templates.values()):
        raise ConfigError(
            f"{env.config_path}: [chat_templates] must map model names to template files"
        )
    endpoints = split_endpoints(env.environ.get("LLM_ENDPOINT", ""))
    named = read_endpoints(data.get("endpoints", {}), str(env.config_path))
    settings = Settings(
        aliases=aliases,
        chat_templates=dict(templates),
        endpoints=endpoints,
        named_endpoints=named,
        **values,
    )
    return validate(settings)


def _aliases(table: Any, path: Path, warn: Warn) -> dict[str, str]:
    """name -> spec; a bad entry is skipped with a warning, so `llm models alias --rm` and
    every other command keep working on a config they can repair."""
    if not isinstance(table, dict):
        warn(f'{path}: [aliases] must be a table of name = "spec"; ignored')
        return {}
    good = {k: v for k, v in table.items() if isinstance(v, str)}
    for name in sorted(set(table) - set(good)):
        warn(f"{path}: alias {name!r} is not a model spec (a string); ignored")
    return good


def unknown_keys(data: Mapping[str, Any], path: Path) -> list[str]:
    """One line per top-level key that nothing reads, with the likely intended key."""
    import difflib

    lines = []
    for key in sorted(set(data) - CONFIG_KEYS):
        close = difflib.get_close_matches(key, sorted(CONFIG_KEYS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        lines.append(f"{path}: unknown key {key!r} (ignored{hint})")
    return lines


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
    scheme = next((s for s in URL_SCHEMES if url.startswith(s)), None)
    if scheme is None or not url[len(scheme) :].strip("/"):
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
    # ASCII digits only ("²".isdigit() is True, int("²") fails at load); llama.cpp's is an int32
    number = re.fullmatch(r"-1|[0-9]{1,9}", gl)
    if gl not in ("auto", "all") and not number:
        raise UsageError(f"--gpu-layers must be auto, all or a number, got {settings.gpu_layers!r}")
    if settings.temperature is not None and not 0 <= settings.temperature <= 5:
        raise UsageError(f"--temperature must be between 0 and 5, got {settings.temperature}")
    if settings.top_p is not None and not 0 < settings.top_p <= 1:
        raise UsageError(f"--top-p must be in (0, 1], got {settings.top_p}")
    if settings.seed is not None and not 0 <= settings.seed <= SEED_MAX:
        raise UsageError(f"--seed must be between 0 and {SEED_MAX}, got {settings.seed}")
    if settings.max_tokens is not None and settings.max_tokens < 1:
        raise UsageError(f"--max-tokens must be at least 1, got {settings.max_tokens}")
    for endpoint in settings.endpoints:
        if not endpoint.startswith("@"):
            check_url(endpoint, "--endpoint")
    return settings


def write_config_value(env: Environment, key: str | Sequence[str], value: Any) -> Path:
    """Set one key in config.toml atomically (None deletes it). A table key is a sequence,
    ("aliases", "qwen2.5"): a name may hold dots, which tomli_w quotes."""
    import tomli_w

    path = env.config_path
    data = read_config_file(path)
    table = data
    *parents, leaf = (key,) if isinstance(key, str) else tuple(key)
    for part in parents:
        if not isinstance(table.get(part, {}), dict):
            raise ConfigError(f"{path}: {part!r} must be a table; fix the file first")
        table = table.setdefault(part, {})
    if value is None:
        table.pop(leaf, None)
    else:
        table[leaf] = value
    atomic_write_text(path, tomli_w.dumps(data))
    return path


def private_dir(path: Path) -> Path:
    """A directory only the user can enter (it holds their conversations): created 0700, and
    an existing one of ours tightened to 0700 (older versions left it 0755)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # not ours, or a file system without modes
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """A file only the user can read, created empty if absent (0600, whatever the umask)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file and rename: readers never see half a file. The file is 0600
    (mkstemp's mode), like everything else that holds the user's text."""
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
    tables = ("aliases", "chat_templates", "endpoints", "named_endpoints")
    return [f.name for f in fields(Settings) if f.name not in tables]
