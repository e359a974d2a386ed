from __future__ import annotations

from pathlib import Path

import pytest

from llmcli.config import load_settings, write_config_value
from llmcli.env import Environment
from llmcli.errors import ConfigError, UsageError


def _env(tmp_path: Path, **environ: str) -> Environment:
    return Environment(environ=environ, config_dir=tmp_path, data_dir=tmp_path, cache_dir=tmp_path)


def test_defaults_when_nothing_is_configured(tmp_path: Path) -> None:
    settings = load_settings(_env(tmp_path))
    assert settings.model is None and settings.ctx is None and settings.gpu_layers == "auto"


def test_file_then_env_then_flags(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('model = "from-file"\nctx = 1024\n')
    assert load_settings(_env(tmp_path)).model == "from-file"
    env = _env(tmp_path, LLM_MODEL="from-env")
    settings = load_settings(env)
    assert settings.model == "from-env" and settings.ctx == 1024
    assert settings.merged(model="from-flag").model == "from-flag"


def test_ctx_is_rounded_up_to_256(tmp_path: Path) -> None:
    assert load_settings(_env(tmp_path)).merged(ctx=1000).ctx == 1024


def test_bad_values_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LLM_CTX"):
        load_settings(_env(tmp_path, LLM_CTX="lots"))
    (tmp_path / "config.toml").write_text("model = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(_env(tmp_path))


def test_gpu_layers_validation(tmp_path: Path) -> None:
    settings = load_settings(_env(tmp_path))
    assert settings.merged(gpu_layers="12").gpu_layers == "12"
    with pytest.raises(UsageError):
        settings.merged(gpu_layers="many")


def test_write_config_value_keeps_other_keys(tmp_path: Path) -> None:
    env = _env(tmp_path)
    write_config_value(env, "model", "a/b:Q4_K_M")
    write_config_value(env, ("aliases", "small"), "c/d")
    settings = load_settings(env)
    assert settings.model == "a/b:Q4_K_M" and settings.aliases == {"small": "c/d"}
    assert not list(tmp_path.glob(".config.toml.*"))  # no temp files left behind
