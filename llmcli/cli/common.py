"""Glue every command needs: the Environment, settings from flags, the engine, input text."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from llmcli.config import Settings, load_settings
from llmcli.env import Environment
from llmcli.errors import InputError
from llmcli.render import notice

MAX_INPUT_BYTES = 256 * 1024 * 1024  # refuse rather than exhaust memory


def get_env(ctx: typer.Context) -> Environment:
    obj = ctx.find_root().obj
    if not isinstance(obj, Environment):
        obj = Environment()
        ctx.find_root().obj = obj
    return obj


# command parameter -> Settings field, for the flags a command may declare (options.py)
_SETTING_FLAGS = {
    "model": "model",
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "max_tokens",
    "seed": "seed",
    "n_ctx": "ctx",
    "gpu_layers": "gpu_layers",
    "threads": "threads",
}


def setup(tctx: typer.Context, /) -> tuple[Environment, Settings]:
    """Environment plus settings: flags > LLM_* > config.toml > defaults. The flags come from
    the command's own parsed parameters (`tctx.params`), so a command declares --model,
    --ctx, --verbose... once, in its signature, and never passes them on by hand."""
    params = tctx.params
    env = get_env(tctx)
    env.verbose = env.verbose or bool(params.get("verbose"))
    env.debug = env.debug or bool(params.get("debug"))
    flags = {field: params[name] for name, field in _SETTING_FLAGS.items() if name in params}
    return env, load_settings(env).merged(**flags)


@dataclass
class LoadedModel:
    spec: str
    path: Path
    engine: Any  # Engine; Any keeps llama_cpp-free typing simple here


@contextmanager
def open_model(
    env: Environment, settings: Settings, spec: str | None = None
) -> Iterator[LoadedModel]:
    """Resolve a spec (pulling it if needed), load it, and always close it."""
    from llmcli.cli.progress import make_progress
    from llmcli.engine import EngineParams
    from llmcli.hub import resolve_model
    from llmcli.kvcache import settings_from_env as kv_settings_from_env

    resolved = resolve_model(spec or settings.model, settings, env, make_progress(env))
    params = EngineParams(
        model_path=resolved.path,
        n_ctx=settings.ctx,
        gpu_layers=settings.gpu_layers,
        threads=settings.threads,
        verbose=env.verbose,
        log=lambda text: _write_log(env, text),
        kv_cache=kv_settings_from_env(env.environ, env.cache_dir),
    )
    engine = env.engine_factory(params)
    try:
        for line in getattr(engine, "notices", []):
            notice(env, line)
        yield LoadedModel(resolved.spec, resolved.path, engine)
    finally:
        engine.close()


def _write_log(env: Environment, text: str) -> None:
    env.stderr.write(text)
    env.stderr.flush()


def decode_input(data: bytes, origin: str) -> str:
    """Bytes -> text, refusing binary and invalid UTF-8 with the offending offset."""
    if b"\x00" in data[:65536]:
        raise InputError(f"{origin} looks like binary data (NUL bytes); give text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{origin} is not valid UTF-8 (byte {exc.start:,}: {data[exc.start : exc.start + 1]!r})"
        ) from None
    return text.removeprefix("\ufeff")


def read_stdin(env: Environment) -> str | None:
    """Text piped on stdin, or None when stdin is a terminal."""
    if env.stdin_isatty:
        return None
    buffer = getattr(env.stdin, "buffer", None)
    if buffer is not None:
        data = buffer.read(MAX_INPUT_BYTES + 1)
    else:
        raw = env.stdin.read()
        data = raw.encode("utf-8", errors="surrogateescape")
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"stdin is larger than {MAX_INPUT_BYTES // 2**20} MiB")
    return decode_input(data, "stdin")


def read_file(path: Path) -> str:
    try:
        if path.is_dir():
            raise InputError(f"{path} is a directory")
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise InputError(f"{path} is larger than {MAX_INPUT_BYTES // 2**20} MiB")
        return decode_input(path.read_bytes(), str(path))
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except PermissionError:
        raise InputError(f"cannot read {path}: permission denied") from None


def read_inputs(env: Environment, files: list[Path] | None) -> str | None:
    """Files joined by blank lines, else stdin; None when there is neither."""
    if files:
        return "\n\n".join(read_file(p) for p in files)
    return read_stdin(env)


def generation_options(template_settings: Mapping[str, Any], settings: Settings) -> Any:
    """A template's own settings, overridden by config, environment and flags."""
    from llmcli.engine import GenerationOptions

    values = dict(template_settings)
    values["stop"] = tuple(values.get("stop", ()))
    for key in ("temperature", "top_p", "max_tokens", "seed"):
        if getattr(settings, key) is not None:
            values[key] = getattr(settings, key)
    return GenerationOptions(**values)
