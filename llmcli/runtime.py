"""From settings to a running engine: resolve a spec once, load the model, always close it.

The CLI builds one `ModelLoader` per command (with its progress display and log writer) and
hands it down: commands open a model through it, and chat's `/model` resolves a new spec and
loads that resolution, so no layer below climbs back up to the CLI.

A spec `@NAME` or `@NAME/ID` (a `[endpoints.NAME]` of config.toml), or any spec while
`--endpoint`/`LLM_ENDPOINT` is set, resolves to a `RemoteModel`: loading it opens a
`RemoteEngine` on that server instead of a file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmcli.config import Settings
from llmcli.engine import Engine, EngineParams, GenerationOptions
from llmcli.env import Environment
from llmcli.errors import ConfigError
from llmcli.models import ModelStore, ResolvedModel
from llmcli.models.hub import Progress

if TYPE_CHECKING:
    from llmcli.engine.remote import Endpoint

LogWriter = Callable[[str], None]
KEY_VAR = "LLM_API_KEY"  # the key of a server given by URL (named ones say their own)


@dataclass(frozen=True)
class RemoteModel:
    """A model on a server: what the user asked for, and where to ask."""

    spec: str  # "@NAME", "@NAME/ID", the model id given with --endpoint, or "" (the only one)
    endpoint: Endpoint


Target = ResolvedModel | RemoteModel


@dataclass
class LoadedModel:
    spec: str
    path: Path  # the model file; for a remote model, its id on the server
    engine: Engine
    endpoint: str | None = None  # the server's URL (no credentials) when remote


@dataclass
class ModelLoader:
    env: Environment
    settings: Settings
    store: ModelStore
    progress: Progress  # downloads of models not cached yet, and notices
    log: LogWriter | None = None  # where the backend's log goes with --verbose
    sequences: int = 1  # prompts an in-process model decodes together (EngineParams)

    def resolve(self, spec: str | None = None) -> Target:
        """The file a spec names (the default with None), pulled now if not cached; or the
        server and model id when the spec is @NAME or an endpoint is set."""
        targets = self.remote_targets(spec)
        return targets[0] if targets else self.store.resolve(spec, self.progress)

    def remote_targets(self, spec: str | None = None) -> list[RemoteModel]:
        """One RemoteModel per endpoint in use (several --endpoint: fan-out); [] for local."""
        return remote_targets(self.env, self.settings, spec)

    def load(self, target: Target) -> LoadedModel:
        """Load a resolved model (or connect to its server); the caller closes the engine."""
        if isinstance(target, RemoteModel):
            engine = self.env.remote_factory(target.endpoint)
            path = engine.model_path
            loaded = LoadedModel(target.spec or path.name, path, engine, target.endpoint.shown)
        else:
            engine = self.env.engine_factory(self.engine_params(target.path, target))
            loaded = LoadedModel(target.spec, target.path, engine)
        for line in engine.notices:
            self.progress.notice(line)
        return loaded

    @contextmanager
    def open(self, spec: str | None = None) -> Iterator[LoadedModel]:
        """Resolve, load, and always close."""
        loaded = self.load(self.resolve(spec))
        try:
            yield loaded
        finally:
            loaded.engine.close()

    def engine_params(self, path: Path, resolved: ResolvedModel | None = None) -> EngineParams:
        from llmcli.engine.kvcache import settings_from_env

        return EngineParams(
            model_path=path,
            n_ctx=self.settings.ctx,
            gpu_layers=self.settings.gpu_layers,
            threads=self.settings.threads,
            verbose=self.env.verbose,
            log=self.log,
            kv_cache=settings_from_env(self.env.environ, self.env.cache_dir),
            chat_template=chat_template_for(self.settings, path, resolved),
            thread_registry=thread_registry(self.env),
            sequences=self.sequences,
        )


def chat_template_for(settings: Settings, path: Path, resolved: ResolvedModel | None) -> str | None:
    """--chat-template / LLM_CHAT_TEMPLATE / config, else the model's [chat_templates] entry:
    keyed by the spec as typed, its repo, or the file name (with or without .gguf)."""
    if settings.chat_template:
        return settings.chat_template
    keys = [path.name, path.stem]
    if resolved is not None:
        keys = [resolved.spec, *([resolved.repo] if resolved.repo else []), *keys]
    return next((settings.chat_templates[k] for k in keys if k in settings.chat_templates), None)


def thread_registry(env: Environment) -> Path | None:
    """Where llm processes register to share the cores (engine/threads.py)."""
    from llmcli.engine.threads import DIRNAME

    return env.cache_dir / DIRNAME if env.cache_dir else None


def generation_options(
    template_settings: Mapping[str, Any], settings: Settings, think: bool | None = None
) -> GenerationOptions:
    """A template's own settings, overridden by config, environment and flags (`think`:
    --think/--no-think; tasks' templates say `think = false`)."""
    values = dict(template_settings)
    values["stop"] = tuple(values.get("stop", ()))
    sampling = {
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "max_tokens": settings.max_tokens,
        "seed": settings.seed,
    }
    values.update({k: v for k, v in sampling.items() if v is not None})
    if think is not None:
        values["think"] = think
    return GenerationOptions(**values)


def remote_targets(env: Environment, settings: Settings, spec: str | None) -> list[RemoteModel]:
    """The servers a spec goes to: @NAME[/ID], else each --endpoint/LLM_ENDPOINT; [] local."""
    asked = spec or settings.model or ""
    if asked.startswith("@"):
        return [RemoteModel(asked, endpoint_for(env, settings, asked, None))]
    model = asked or None
    return [RemoteModel(asked, endpoint_for(env, settings, e, model)) for e in settings.endpoints]


def endpoint_for(env: Environment, settings: Settings, ref: str, model: str | None) -> Endpoint:
    """A URL, or @NAME[/ID] from config.toml, with its key from the environment."""
    from llmcli.engine.remote import Endpoint

    environ, ctx = env.environ, settings.ctx
    if not ref.startswith("@"):
        return Endpoint(ref, model, environ.get(KEY_VAR) or None, KEY_VAR, ctx)
    name, _, model_id = ref[1:].partition("/")
    config = settings.named_endpoints.get(name)
    if config is None:
        known = ", ".join(f"@{n}" for n in sorted(settings.named_endpoints)) or "none"
        raise ConfigError(
            f"no endpoint named {name!r} in {env.config_path} (known: {known})",
            hint=f'add [endpoints.{name or "NAME"}] with url = "http://host:port"',
        )
    key_env = config.api_key_env
    key = environ.get(key_env) if key_env else None
    ctx = ctx or config.ctx
    return Endpoint(config.url, model_id or model or config.model, key, key_env, ctx, name)
