"""Issue 15, config: alias names with dots, unknown keys, a BOM, bad environment values."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmcli.config import CONFIG_KEYS, load_settings
from llmcli.env import Environment
from llmcli.errors import ConfigError, ExitCode, UsageError
from tests.conftest import Runner


def _env(tmp_path: Path, **environ: str) -> Environment:
    return Environment(environ=environ, config_dir=tmp_path, data_dir=tmp_path, cache_dir=tmp_path)


def test_alias_name_with_a_dot_round_trips_and_can_be_removed(llm: Runner) -> None:
    assert llm("models", "alias", "qwen2.5", "smollm2").exit_code == 0
    listed = llm("models", "alias")
    assert listed.exit_code == 0 and "qwen2.5 = smollm2" in listed.stdout
    assert llm("run", "-m", "qwen2.5", "hi").exit_code == 0
    assert llm("models", "alias", "qwen2.5", "--rm").exit_code == 0
    assert "qwen2.5" not in llm("models", "alias").stdout


def test_a_broken_alias_table_warns_and_does_not_lock_the_user_out(llm: Runner) -> None:
    config = llm.tmp_path / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[aliases.qwen2]\n5 = "smollm2"\n[aliases]\nok = "smollm2"\n')
    result = llm("run", "-m", "ok", "hi")
    assert result.exit_code == 0
    assert "alias 'qwen2' is not a model spec" in result.stderr
    removed = llm("models", "alias", "qwen2", "--rm")
    assert removed.exit_code == 0, removed.stderr
    assert "qwen2" not in config.read_text() and "ok" in config.read_text()


def test_unknown_config_key_warns_with_the_key_and_the_file(llm: Runner) -> None:
    config = llm.tmp_path / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("temprature = 0.2\n[endpoints.local]\nurl = 'http://x'\n")
    result = llm("run", "hi")
    assert result.exit_code == 0
    assert f"{config}: unknown key 'temprature'" in result.stderr
    assert "did you mean 'temperature'" in result.stderr
    assert "endpoints" not in result.stderr  # a table another part reads is known


def test_known_keys_cover_every_setting_and_table() -> None:
    assert {"model", "ctx", "temperature", "seed", "aliases", "endpoints"} <= CONFIG_KEYS


def test_config_with_a_utf8_bom_is_read(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_bytes('\ufeffmodel = "a/b"\n'.encode())
    assert load_settings(_env(tmp_path)).model == "a/b"


def test_config_that_is_a_directory_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "config.toml").mkdir()
    assert load_settings(_env(tmp_path)).model is None  # not a file: no config


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "abc", "1e999"])
def test_kv_cache_limit_must_be_a_finite_number(llm: Runner, value: str) -> None:
    llm.environ["LLM_KV_CACHE_MB"] = value
    result = llm("run", "hi")
    assert result.exit_code == ExitCode.USAGE
    assert "LLM_KV_CACHE_MB" in result.stderr and "Traceback" not in result.stderr


def test_kv_cache_limit_zero_turns_the_cache_off(llm: Runner) -> None:
    llm.environ["LLM_KV_CACHE_MB"] = "0"
    assert llm("run", "hi").exit_code == 0
    assert llm.params[-1].kv_cache is None


@pytest.mark.parametrize("seed", ["4294967296", "-1", "-5", "99999999999999999999"])
def test_seed_out_of_range_is_refused(llm: Runner, seed: str) -> None:
    result = llm("run", "--seed", seed, "hi")
    assert result.exit_code == ExitCode.USAGE
    assert "--seed must be between 0 and 4294967295" in result.stderr


def test_seed_at_the_top_of_the_range_is_kept(llm: Runner) -> None:
    assert llm("run", "--seed", "4294967295", "hi").exit_code == 0


def test_seed_from_the_environment_is_checked(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--seed must be between"):
        load_settings(_env(tmp_path, LLM_SEED="4294967297"))


@pytest.mark.parametrize("layers", ["²", "١٢", "9" * 30])
def test_gpu_layers_must_be_ascii_digits_within_int32(llm: Runner, layers: str) -> None:
    """'²'.isdigit() passed the check and int('²') failed at load: exit 1 with a traceback."""
    result = llm("run", "--gpu-layers", layers, "hi")
    assert result.exit_code == ExitCode.USAGE
    assert "--gpu-layers must be auto, all or a number" in result.stderr


@pytest.mark.parametrize(
    "line", ["model = 3", "model = {a = 1}", "temperature = true", "ctx = [1]"]
)
def test_config_values_of_the_wrong_toml_type_are_refused(tmp_path: Path, line: str) -> None:
    (tmp_path / "config.toml").write_text(line + "\n")
    with pytest.raises(ConfigError, match="must be"):
        load_settings(_env(tmp_path))
