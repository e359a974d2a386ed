"""Where a command's independent calls go: the in-process model, or every server, fanned out.

`--parallel N` puts N requests in flight on each server (`--endpoint`, repeatable); the
in-process model is not thread-safe and runs one call at a time, which a notice says when
`--parallel` is given without a server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

from llmcli.cli.options import RunFlags
from llmcli.env import Environment
from llmcli.errors import UsageError

if TYPE_CHECKING:
    from llmcli.runtime import LoadedModel, ModelLoader
    from llmcli.tasks import WarnFn
    from llmcli.tasks.fanout import Mapper

PARALLEL_MAX = 256


def check_parallel(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= PARALLEL_MAX:
        raise UsageError(f"--parallel must be between 1 and {PARALLEL_MAX}, got {value}")
    return value


@contextmanager
def open_mapper(
    env: Environment, loader: ModelLoader, loaded: LoadedModel, flags: RunFlags, warn: WarnFn
) -> Iterator[Mapper]:
    """The mapper for this run; engines it opened besides `loaded` are closed after it."""
    from llmcli.output import notice
    from llmcli.tasks.fanout import FanOut, Lane, Sequential

    parallel = check_parallel(flags.parallel)
    servers = loader.remote_targets()  # as loader.open() chose them; the first is `loaded`
    if not servers:
        if parallel is not None and parallel > 1:
            notice(
                env,
                "--parallel needs a server (--endpoint): the in-process model runs "
                "one request at a time",
            )
        yield Sequential(loaded.engine)
        return
    with ExitStack() as stack:
        lanes = [Lane(_name(loaded), loaded.engine)]
        for target in servers[1:]:
            other = loader.load(target)
            stack.callback(other.engine.close)
            lanes.append(Lane(_name(other), other.engine))
        fan = FanOut(lanes, parallel=parallel or 1, warn=warn)
        yield fan
        if len(lanes) > 1:  # in a pipe or log too, where there is no bar
            notice(env, f"requests per server: {fan.summary()}")


def _name(loaded: LoadedModel) -> str:
    """host:port of a server, for progress and warnings (the URL has no credentials)."""
    url = loaded.endpoint or str(loaded.path)
    return url.split("://", 1)[-1].split("/", 1)[0]
