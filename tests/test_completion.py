"""`llm completion bash|zsh|fish`: the scripts, the hidden `--values` fast path, and the
scripts run by the real shells (zsh and fish only where they are installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer.core
import typer.main

from llmcli.cli.app import build_app
from tests.conftest import Runner
from tests.hub_server import gguf_bytes
from tests.test_hub_cache import add_to_cache

SHELLS = ("bash", "zsh", "fish")
REPO = "owner/model-GGUF"
SPEC = f"{REPO}:Q4_K_M"
BUILTIN_TEMPLATES = {"chat", "run", "summarize", "translate", "sentiment"}


def top_level_commands() -> list[str]:
    root = typer.main.get_command(build_app())
    assert isinstance(root, typer.core.TyperGroup)
    return root.list_commands(typer.Context(root, info_name="llm"))


@pytest.fixture
def models(llm: Runner, tmp_path: Path) -> Runner:
    """A Hub cache with one model and a config.toml with one alias."""
    cache = tmp_path / "hf"
    add_to_cache(cache, REPO, {"m-Q4_K_M.gguf": gguf_bytes("Q4_K_M")})
    llm.environ["HF_HUB_CACHE"] = str(cache)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.toml").write_text(f'[aliases]\nqwen = "{SPEC}"\n')
    return llm


@pytest.mark.parametrize("shell", SHELLS)
def test_script_names_every_command_option_and_choice(llm: Runner, shell: str) -> None:
    result = llm("completion", shell)
    assert result.exit_code == 0, result.stderr
    commands = top_level_commands()
    assert {"run", "chat", "summarize", "models", "templates", "completion"} <= set(commands)
    for word in [*commands, "pull", "quants", "--length", "--model", "medium", "bullets"]:
        assert word in result.stdout, word
    assert "completion --values" in result.stdout


def test_unknown_shell_is_a_one_line_usage_error(llm: Runner) -> None:
    for args in (("completion", "tcsh"), ("completion",)):
        result = llm(*args)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1 and "bash, zsh or fish" in result.stderr


def test_values_templates_lists_builtins_and_user_templates(llm: Runner, tmp_path: Path) -> None:
    (tmp_path / "config" / "templates").mkdir(parents=True)
    (tmp_path / "config" / "templates" / "mine.toml").write_text('name = "mine"\n')
    result = llm("completion", "--values", "templates")
    assert result.exit_code == 0, result.stderr
    names = result.stdout.splitlines()
    assert BUILTIN_TEMPLATES | {"mine"} <= set(names)
    assert len(names) == len(set(names))


def test_values_models_lists_bundled_aliases_and_cache(models: Runner) -> None:
    result = models("completion", "--values", "models")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["smollm2", "qwen", SPEC]


def test_values_models_survive_a_broken_config(models: Runner, tmp_path: Path) -> None:
    (tmp_path / "config" / "config.toml").write_text("[aliases\n")
    result = models("completion", "--values", "models")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["smollm2", SPEC]


def test_values_of_unknown_kind_is_a_usage_error(llm: Runner) -> None:
    result = llm("completion", "--values", "sessions")
    assert result.exit_code == 2 and result.stdout == ""


@pytest.mark.parametrize("kind", ["models", "templates"])
def test_values_fast_path_loads_no_heavy_library(kind: str) -> None:
    code = (
        "import sys; from llmcli.cli.main import main; "
        f"code = main(['completion', '--values', '{kind}']); "
        "heavy = {'llama_cpp', 'huggingface_hub', 'rich'} & set(sys.modules); "
        "print(sorted(heavy), code, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip().endswith("[] 0"), done.stderr


# ---- the real shells ----------------------------------------------------------------------


@pytest.fixture
def shell_env(models: Runner, tmp_path: Path) -> dict[str, str]:
    """PATH with an `llm` that runs this checkout, and the models fixture's directories."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "llm"
    fake.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m llmcli "$@"\n')
    fake.chmod(0o755)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "LLM_CONFIG_DIR": str(tmp_path / "config"),
        "LLM_DATA_DIR": str(tmp_path / "data"),
        "LLM_CACHE_DIR": str(tmp_path / "cache"),
        "HF_HUB_CACHE": models.environ["HF_HUB_CACHE"],
        "HF_HUB_OFFLINE": "1",
        "NO_COLOR": "1",
    }


def write_script(llm: Runner, shell: str, tmp_path: Path) -> Path:
    path = tmp_path / f"llm.{shell}"
    path.write_text(llm("completion", shell).stdout)
    return path


def bash_complete(script: Path, env: dict[str, str], *words: str) -> list[str]:
    """COMPREPLY for COMP_WORDS=words, the cursor on the last word."""
    code = (
        f'source "{script}"; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); '
        '_llm; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        ["bash", "--norc", "-c", code, "bash", *words],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completes_commands_templates_models_and_choices(
    models: Runner, shell_env: dict[str, str], tmp_path: Path
) -> None:
    script = write_script(models, "bash", tmp_path)
    assert bash_complete(script, shell_env, "llm", "summ") == ["summarize"]
    assert {"summarize", "translate"} <= set(
        bash_complete(script, shell_env, "llm", "run", "-t", "")
    )
    assert bash_complete(script, shell_env, "llm", "summarize", "--length", "") == [
        "short",
        "medium",
        "long",
    ]
    assert "pull" in bash_complete(script, shell_env, "llm", "models", "")
    assert bash_complete(script, shell_env, "llm", "templates", "show", "summarize-c") == [
        "summarize-combine"
    ]
    shown = bash_complete(script, shell_env, "llm", "models", "show", "")
    assert shown == ["smollm2", "qwen", SPEC]


def test_bash_completes_after_a_colon_and_files(
    models: Runner, shell_env: dict[str, str], tmp_path: Path
) -> None:
    script = write_script(models, "bash", tmp_path)
    # bash splits owner/repo:QUANT at the colon and replaces only what follows it
    words = ("llm", "run", "-m", REPO, ":", "Q")
    assert bash_complete(script, shell_env, *words) == ["Q4_K_M"]
    (tmp_path / "notes.txt").write_text("x")
    assert bash_complete(script, shell_env, "llm", "summarize", f"{tmp_path}/no") == [
        f"{tmp_path}/notes.txt"
    ]


# zsh's completion builtins, stubbed to print what they would offer
ZSH_STUBS = r"""
_describe() { local -a items; items=(${(P)${@[-1]}}); print -rl -- ${items%%:*} }
_wanted() { shift 3; "$@" }
compadd() { if [[ $1 == -a ]]; then print -rl -- ${(P)2}; else print -rl -- "${@[2,-1]}"; fi }
_files() { print -r -- '<files>' }
_message() { : }
compset() { : }
"""


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_parses_and_completes(
    models: Runner, shell_env: dict[str, str], tmp_path: Path
) -> None:
    script = write_script(models, "zsh", tmp_path)
    done = subprocess.run(["zsh", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    def complete(*words: str) -> list[str]:
        code = f'compdef() {{ : }}; source "$0"; {ZSH_STUBS}; words=(llm "$@"); CURRENT=${{#words}}; _llm'
        done = subprocess.run(
            ["zsh", "-f", "-c", code, str(script), *words],
            capture_output=True,
            text=True,
            env=shell_env,
            timeout=60,
        )
        return done.stdout.splitlines()

    assert "summarize" in complete("summ")
    assert {"summarize", "translate"} <= set(complete("run", "-t", ""))
    assert complete("models", "show", "--json", "") == ["smollm2", "qwen", SPEC]
    assert complete("summarize", "--length", "") == ["short", "medium", "long"]
    assert complete("summarize", "notes") == ["<files>"]
    assert "--length" in complete("summarize", "--le")


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_commands_templates_and_models(
    models: Runner, shell_env: dict[str, str], tmp_path: Path
) -> None:
    script = write_script(models, "fish", tmp_path)
    assert subprocess.run(["fish", "-n", str(script)]).returncode == 0

    def complete(line: str) -> list[str]:
        code = f"source '{script}'; complete -C '{line}'"
        done = subprocess.run(
            ["fish", "--no-config", "-c", code],
            capture_output=True,
            text=True,
            env=shell_env,
            timeout=60,
        )
        return [row.split("\t")[0] for row in done.stdout.splitlines()]

    assert complete("llm summ") == ["summarize"]
    assert {"summarize", "translate"} <= set(complete("llm run -t "))
    assert complete("llm models show ") == sorted(["smollm2", "qwen", SPEC])
    assert complete("llm summarize --length s") == ["short"]
