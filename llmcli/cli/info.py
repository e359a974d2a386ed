"""`llm info`: versions, llama.cpp build, GPU offload, default model, directories."""

from __future__ import annotations

import platform
from typing import Any

import typer

from llmcli.cli import options as o
from llmcli.cli.common import setup
from llmcli.config import Settings
from llmcli.env import Environment

EPILOG = """\
Examples:

  llm info

  llm info --json | jq .default_model
"""


def gather(env: Environment, settings: Settings) -> dict[str, Any]:
    import llama_cpp

    from llmcli import __version__
    from llmcli.errors import LlmError
    from llmcli.hub import resolve_model

    try:
        resolved = resolve_model(None, settings, env)
        default: dict[str, Any] = {"spec": resolved.spec, "path": str(resolved.path)}
    except LlmError as exc:
        default = {"spec": settings.model, "error": exc.message}
    system_info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    return {
        "llmcli": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "llama_cpp_python": llama_cpp.__version__,
        "llama_cpp_system_info": system_info.strip(),
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "default_model": default,
        "config_file": str(env.config_path),
        "config_dir": str(env.config_dir),
        "data_dir": str(env.data_dir),
        "cache_dir": str(env.cache_dir),
        "templates_dir": str(env.templates_dir),
        "hf_cache": _hf_cache(env),
    }


def _hf_cache(env: Environment) -> str:
    import os

    if env.environ.get("HF_HUB_CACHE"):
        return env.environ["HF_HUB_CACHE"]
    home = env.environ.get("HF_HOME") or os.path.join(
        env.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface"
    )
    return os.path.join(home, "hub")


def info(
    ctx: typer.Context, json_out: o.Json = False, verbose: o.Verbose = False, debug: o.Debug = False
) -> None:
    """Show versions, the llama.cpp build, GPU support, the default model and where files live."""
    from llmcli.render import emit_json, make_console

    env, settings = setup(ctx)
    data = gather(env, settings)
    if json_out:
        emit_json(env, data)
        return
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in data.items():
        if isinstance(value, dict):
            value = "  ".join(f"{k}: {v}" for k, v in value.items())
        table.add_row(key.replace("_", " "), str(value))
    make_console(env).print(table)


def register(app: typer.Typer) -> None:
    app.command("info", epilog=EPILOG)(info)
