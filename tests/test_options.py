"""Every command's shared flags reach what they set: a renamed or dropped one fails here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmcli.cli.options import flag_names
from tests.conftest import Runner
from tests.fake_engine import FakeEngine

# A value for each flag, and where it must arrive: EngineParams (load) or GenerationOptions.
Target = dict[str, tuple[str | None, str, object]]  # flag -> (value typed, field, expected)
LOAD: Target = {"--ctx": ("300", "n_ctx", 512), "--threads": ("3", "threads", 3)}
LOAD |= {"--gpu-layers": ("0", "gpu_layers", "0"), "--verbose": (None, "verbose", True)}
LOAD |= {"--chat-template": ("chatml", "chat_template", "chatml")}
SAMPLE: Target = {
    "--temperature": ("0.25", "temperature", 0.25),
    "--top-p": ("0.5", "top_p", 0.5),
}
SAMPLE |= {"--max-tokens": ("7", "max_tokens", 7), "--seed": ("11", "seed", 11)}

# The arguments and stdin each model command needs besides the flags under test.
MODEL_COMMANDS: dict[str, tuple[list[str], str]] = {
    "run": (["hi"], ""),
    "chat": ([], "hello\n"),
    "summarize": ([], "Some text to summarize.\n"),
    "translate": (["--to", "pt"], "Good morning.\n"),
    "sentiment": ([], "I love it\n"),
}


def _leaves() -> Iterator[tuple[str, Any]]:
    import typer.main

    from llmcli.cli.app import build_app

    def walk(prefix: str, command: Any) -> Iterator[tuple[str, Any]]:
        subs = getattr(command, "commands", None)
        if not subs:
            yield prefix.strip(), command
            return
        for name, sub in subs.items():
            yield from walk(f"{prefix} {name}", sub)

    yield from walk("", typer.main.get_command(build_app()))


def _flags_of(command: Any) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", [])}


LEAVES = dict(_leaves())


def test_every_command_with_a_model_flag_is_covered_here() -> None:
    with_model = {name for name, cmd in LEAVES.items() if "--model" in _flags_of(cmd)}
    assert with_model == set(MODEL_COMMANDS)


def test_the_shared_flags_are_the_ones_declared_once() -> None:
    declared = set(flag_names().values())
    others = {
        "--model",
        "--endpoint",
        "--json",
        "--debug",
        "--think",
        "--show-thinking",
        "--parallel",
    }
    assert set(LOAD) | set(SAMPLE) | others == declared


# --think/--no-think reach GenerationOptions.think; the tasks default to no thinking.
THINKING = {"run": None, "chat": None, "summarize": False, "translate": False}


@pytest.mark.parametrize("name", sorted(THINKING))
def test_think_flags_reach_the_generation_options(
    llm: Runner, engine: FakeEngine, bundled_model: Path, name: str
) -> None:
    args, stdin = MODEL_COMMANDS[name]
    for flag, expected in (([], THINKING[name]), (["--think"], True), (["--no-think"], False)):
        result = llm(name, *args, "--model", str(bundled_model), *flag, stdin=stdin)
        assert result.exit_code == 0, result.stderr
        assert engine.calls[-1].options.think is expected, f"{name} {flag}"


@pytest.mark.parametrize("name", sorted(MODEL_COMMANDS))
def test_each_shared_flag_reaches_the_engine(
    llm: Runner, engine: FakeEngine, bundled_model: Path, name: str
) -> None:
    declared = _flags_of(LEAVES[name])
    args, stdin = MODEL_COMMANDS[name]
    argv = [name, *args, "--model", str(bundled_model)]
    for flag, (value, _, _) in (LOAD | SAMPLE).items():
        if flag in declared:
            argv += [flag] if value is None else [flag, value]
    result = llm(*argv, stdin=stdin)
    assert result.exit_code == 0, result.stderr
    params = llm.params[-1]
    assert params.model_path == bundled_model
    for flag, (_, field, expected) in LOAD.items():
        assert flag in declared, f"{name} lacks {flag}"
        assert getattr(params, field) == expected, f"{name} {flag}"
    sampling = [f for f in SAMPLE if f in declared]
    if name != "sentiment":  # labels are scored, not sampled
        assert sampling == list(SAMPLE), f"{name} lacks a sampling flag"
        options = engine.calls[-1].options
        for flag in sampling:
            _, field, expected = SAMPLE[flag]
            assert getattr(options, field) == expected, f"{name} {flag}"


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_every_shared_option_of_every_command_lands_in_run_flags(name: str) -> None:
    """What click parses for a shared flag arrives in its RunFlags field, for every command."""
    from llmcli.cli.options import PREFIX, build_flags

    callback = LEAVES[name].callback
    groups = getattr(callback, "shared_groups", ())
    by_flag = {flag: path for path, flag in flag_names().items()}
    values: dict[str, object] = {}
    expected: dict[str, object] = {}
    for param in LEAVES[name].params:
        shared = [o for o in getattr(param, "opts", []) if o in by_flag]
        if not shared:
            continue
        assert param.name.startswith(PREFIX), f"{name}: {shared[0]} is declared by hand"
        sentinel = object()
        values[param.name.removeprefix(PREFIX)] = sentinel
        expected[by_flag[shared[0]]] = sentinel
    flags = build_flags(groups, values)
    for path, sentinel in expected.items():
        target: object = flags
        for part in path.split("."):
            target = getattr(target, part)
        assert target is sentinel, f"{name}: {path}"


@pytest.mark.parametrize("name", sorted(MODEL_COMMANDS))
def test_endpoint_and_model_reach_the_remote_engine(llm: Runner, name: str) -> None:
    """--endpoint (repeatable) makes the engine remote; -m is then the server's model id."""
    args, stdin = MODEL_COMMANDS[name]
    argv = [name, *args, "--endpoint", "http://h:1", "--endpoint", "http://h:2", "-m", "m1"]
    result = llm(*argv, "--ctx", "512", stdin=stdin)
    assert result.exit_code == 0, result.stderr
    assert llm.loaded == []  # no file was loaded
    # one engine per endpoint where the work fans out over them; else the first one only
    fanned = name in ("summarize", "translate")
    urls = ["http://h:1", "http://h:2"] if fanned else ["http://h:1"]
    assert [e.url for e in llm.endpoints] == urls
    for endpoint in llm.endpoints:
        assert (endpoint.model, endpoint.ctx) == ("m1", 512)
