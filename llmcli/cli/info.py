"""`llm info`: versions, llama.cpp build, GPU offload, default model, directories."""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Any

import typer

from llmcli.cli import options as o
from llmcli.cli.context import setup
from llmcli.cli.options import RunFlags
from llmcli.config import Settings
from llmcli.env import Environment

if TYPE_CHECKING:
    from llmcli.engine.remote import Endpoint

EPILOG = """\
Examples:

  llm info

  llm info --json | jq .default_model
"""


def gather(env: Environment, settings: Settings) -> dict[str, Any]:
    from llmcli import __version__
    from llmcli.engine.llama import backend_info
    from llmcli.errors import LlmError
    from llmcli.models import ModelStore
    from llmcli.runtime import remote_targets

    store = ModelStore.from_env(env, settings)
    try:
        remote = remote_targets(env, settings, None)
        resolved = None if remote else store.resolve(None)
        default: dict[str, Any] = (
            {"spec": resolved.spec, "path": str(resolved.path)}
            if resolved
            else {"spec": settings.model or "(the server's only model)"}
        )
    except LlmError as exc:
        remote, default = [], {"spec": settings.model, "error": exc.message}
    endpoints = {"endpoints": [_shown(r.endpoint) for r in remote]} if remote else {}
    return {
        "llmcli": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        **backend_info(),
        "default_model": default,
        **endpoints,
        "threads": _threads(env, settings),
        "config_file": str(env.config_path),
        "config_dir": str(env.config_dir),
        "data_dir": str(env.data_dir),
        "cache_dir": str(env.cache_dir),
        "templates_dir": str(env.templates_dir),
        "hf_cache": str(store.cache.root),
    }


def _threads(env: Environment, settings: Settings) -> dict[str, object]:
    """The CPU threads a model loaded now would use, and why (engine/threads.py)."""
    from llmcli.engine.threads import Registry, default_cores, plan
    from llmcli.runtime import thread_registry

    root = thread_registry(env)
    registry = Registry(root) if root else None
    return plan(registry, default_cores(), settings.threads).as_dict()


def _shown(endpoint: Endpoint) -> dict[str, Any]:
    """An endpoint as `llm info` shows it: never the key, only where it comes from."""
    shown: dict[str, Any] = {"url": endpoint.shown, "model": endpoint.model}
    if endpoint.name:
        shown["name"] = "@" + endpoint.name
    if endpoint.key_env:
        shown["key"] = f"${endpoint.key_env} ({'set' if endpoint.api_key else 'not set'})"
    return shown


@o.shared(o.JSON, o.VERBOSE, o.DEBUG)
def info(ctx: typer.Context, *, flags: RunFlags) -> None:
    """Show versions, the llama.cpp build, GPU support, the default model and where files live."""
    from llmcli.output import emit_json, make_console

    env, settings = setup(ctx, flags)
    data = gather(env, settings)
    if flags.json:
        emit_json(env, data)
        return
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                item = "  ".join(f"{k}: {v}" for k, v in item.items())
            table.add_row(key.replace("_", " "), str(item))
            key = ""
    make_console(env).print(table)


def register(app: typer.Typer) -> None:
    app.command("info", epilog=EPILOG)(info)
