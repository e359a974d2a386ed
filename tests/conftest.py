"""Fixtures: an Environment with captured streams, and a FakeEngine registered through the
real engine factory, so commands run their real code path."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pytest

from llmcli.cli.main import main
from llmcli.env import Environment
from tests.fake_engine import FakeEngine

if TYPE_CHECKING:
    from llmcli.engine import Engine, EngineParams
    from llmcli.engine.remote import Endpoint

# Tests see no user config, no colour, a fixed width.
os.environ.pop("LLM_MODEL", None)
os.environ["NO_COLOR"] = "1"
os.environ["COLUMNS"] = "100"
os.environ["TERM"] = "dumb"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


class Runner:
    """Runs `llm ARGS` in-process through main(), the one place errors become exit codes."""

    def __init__(self, tmp_path: Path, engine: FakeEngine) -> None:
        self.tmp_path = tmp_path
        self.engine = engine
        self.loaded: list[Path] = []
        self.params: list[EngineParams] = []  # of each load
        self.environ: dict[str, str] = {"NO_COLOR": "1", "HF_HUB_OFFLINE": "1"}
        self.endpoints: list[Endpoint] = []  # of each remote open (--endpoint, @NAME)
        # what a remote open returns: the FakeEngine, unless a test opens a scripted server
        self.remote_engine: Callable[[Endpoint], Engine] | None = None

    def factory(self, params: EngineParams) -> FakeEngine:
        self.loaded.append(params.model_path)
        self.params.append(params)
        self.engine.closed = False
        return self.engine

    def remote(self, endpoint: Endpoint) -> Engine:
        self.endpoints.append(endpoint)
        if self.remote_engine is not None:
            return self.remote_engine(endpoint)
        self.engine.closed = False
        return self.engine

    def make_env(self, stdin: bytes | str | None = None, *, tty: bool = False) -> Environment:
        if stdin is None:
            stdin_stream: io.TextIOBase = io.StringIO("")
        else:
            data = stdin.encode() if isinstance(stdin, str) else stdin
            stdin_stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
        return Environment(
            stdin=stdin_stream,  # type: ignore[arg-type]
            stdout=io.StringIO(),
            stderr=io.StringIO(),
            stdin_isatty=stdin is None,
            stdout_isatty=tty,
            stderr_isatty=tty,
            environ=self.environ,
            config_dir=self.tmp_path / "config",
            data_dir=self.tmp_path / "data",
            cache_dir=self.tmp_path / "cache",
            engine_factory=self.factory,
            remote_factory=self.remote,
            width=100,
        )

    def __call__(self, *args: str, stdin: bytes | str | None = None, tty: bool = False) -> Result:
        env = self.make_env(stdin, tty=tty)
        code = main(list(args), env)
        return Result(code, captured(env.stdout), captured(env.stderr))


def captured(stream: IO[str]) -> str:
    """What was written to a stream of make_env() (a StringIO)."""
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def llm(tmp_path: Path, engine: FakeEngine) -> Iterator[Runner]:
    yield Runner(tmp_path, engine)


@pytest.fixture
def bundled_model() -> Path:
    from llmcli.models import bundled_model_path

    path = bundled_model_path()
    if path is None:
        pytest.fail("the bundled model is not installed: run `make install`")
    return path


ScriptedEngine = Callable[..., FakeEngine]
