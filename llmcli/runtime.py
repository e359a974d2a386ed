"""From settings to a running engine: resolve a spec once, load the model, always close it.

The CLI builds one `ModelLoader` per command (with its progress display and log writer) and
hands it down: commands open a model through it, and chat's `/model` resolves a new spec and
loads that resolution, so no layer below climbs back up to the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmcli.config import Settings
from llmcli.engine import Engine, EngineParams, GenerationOptions
from llmcli.env import Environment
from llmcli.models import ModelStore, ResolvedModel
from llmcli.models.hub import Progress

LogWriter = Callable[[str], None]


@dataclass
class LoadedModel:
    spec: str
    path: Path
    engine: Engine


@dataclass
class ModelLoader:
    env: Environment
    settings: Settings
    store: ModelStore
    progress: Progress  # downloads of models not cached yet, and notices
    log: LogWriter | None = None  # where the backend's log goes with --verbose

    def resolve(self, spec: str | None = None) -> ResolvedModel:
        """The file a spec names (the default with None), pulled now if not cached."""
        return self.store.resolve(spec, self.progress)

    def load(self, resolved: ResolvedModel) -> LoadedModel:
        """Load a resolved model; the caller closes `loaded.engine`."""
        engine = self.env.engine_factory(self.engine_params(resolved.path, resolved))
        for line in engine.notices:
            self.progress.notice(line)
        return LoadedModel(resolved.spec, resolved.path, engine)

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


def generation_options(
    template_settings: Mapping[str, Any], settings: Settings
) -> GenerationOptions:
    """A template's own settings, overridden by config, environment and flags."""
    values = dict(template_settings)
    values["stop"] = tuple(values.get("stop", ()))
    sampling = {
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "max_tokens": settings.max_tokens,
        "seed": settings.seed,
    }
    values.update({k: v for k, v in sampling.items() if v is not None})
    return GenerationOptions(**values)
