"""What every command starts from: the Environment, its Settings, and a model loader."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from llmcli.cli.options import RunFlags
from llmcli.config import Settings, load_settings
from llmcli.env import Environment
from llmcli.output import notice

if TYPE_CHECKING:
    from llmcli.runtime import ModelLoader


def get_env(ctx: typer.Context) -> Environment:
    obj = ctx.find_root().obj
    if not isinstance(obj, Environment):
        obj = Environment()
        ctx.find_root().obj = obj
    return obj


def setup(ctx: typer.Context, flags: RunFlags) -> tuple[Environment, Settings]:
    """The Environment, and settings: flags > LLM_* > config.toml > defaults."""
    env = get_env(ctx)
    env.verbose = env.verbose or flags.verbose
    env.debug = env.debug or flags.debug
    return env, load_settings(env, lambda line: notice(env, line)).merged(**flags.overrides())


def model_loader(env: Environment, settings: Settings, sequences: int = 1) -> ModelLoader:
    """Resolves (pulling with a progress bar) and loads models for this command; an
    in-process model made to decode `sequences` prompts together (EngineParams)."""
    from llmcli.models import ModelStore
    from llmcli.output.progress import make_progress
    from llmcli.runtime import ModelLoader

    def log(text: str) -> None:
        env.stderr.write(text)
        env.stderr.flush()

    store = ModelStore.from_env(env, settings)
    return ModelLoader(env, settings, store, make_progress(env), log, sequences)
