"""`llm serve`: a model on an OpenAI-compatible API, through llama-server or llama-cpp-python."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from llmcli.cli import options as o
from llmcli.cli.context import setup
from llmcli.cli.options import RunFlags
from llmcli.env import Environment
from llmcli.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from llmcli.serving import Backend, Plan

EPILOG = """\
Examples:

  llm serve                                   # the default model on http://127.0.0.1:8080/v1

  llm serve bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M --port 9000 --parallel 4

  LLM_API_KEY=secret llm serve --host 0.0.0.0

  LLM_ENDPOINT=http://127.0.0.1:8080/v1 llm translate --to pt "Good morning"

The model is resolved as every command does (cache, or pulled with a progress bar) and served
by llama.cpp's llama-server ($LLM_LLAMA_SERVER, on PATH, or built by `make servers`), else by
llama-cpp-python's server (pip install 'llmcli[server]'; one request at a time). Once the API
answers, the URL is printed on stderr and `LLM_ENDPOINT=...` on stdout; each request gets one
line on stderr. --parallel N gives N slots, each with the --ctx context. Ctrl-C (or SIGTERM)
stops the server and waits for it: exit 0. A port in use, or a server that fails to start or
dies: one line, exit 1. A key (--api-key or LLM_API_KEY) is handed over in the server's
environment, never on its command line, and never printed.
"""

Spec = Annotated[
    Optional[str],
    typer.Argument(
        metavar="[SPEC]", help="Model: owner/repo[:QUANT], path.gguf or alias.", show_default=False
    ),
]
Port = Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")]
Host = Annotated[str, typer.Option("--host", help="Address to listen on.")]
ApiKey = Annotated[
    Optional[str],
    typer.Option(
        "--api-key",
        envvar="LLM_API_KEY",
        help="Key clients must send (default: $LLM_API_KEY).",
        show_default=False,
        show_envvar=False,
    ),
]
BackendOpt = Annotated[
    str,
    typer.Option("--backend", help="auto, llama-server or llama-cpp-python."),
]


@o.shared(o.RUNTIME, o.FANOUT, o.VERBOSE, o.DEBUG)
def serve(
    ctx: typer.Context,
    spec: Spec = None,
    port: Port = 8080,
    host: Host = "127.0.0.1",
    api_key: ApiKey = None,
    backend: BackendOpt = "auto",
    *,
    flags: RunFlags,
) -> int:
    """Serve a model on an OpenAI-compatible API (for --endpoint / LLM_ENDPOINT)."""
    from llmcli.cli.context import model_loader
    from llmcli.cli.lanes import check_parallel
    from llmcli.output import notice
    from llmcli.serving import Plan, check_port, find_backend, free_port

    env, settings = setup(ctx, flags)
    if spec is not None and spec.startswith("@"):
        raise UsageError(f"{spec} is a server already; llm serve serves a model file")
    server_kind = find_backend(backend, env.environ)  # before a download: it may be missing
    parallel = check_parallel(flags.parallel) or 1
    if server_kind.kind == "llama-cpp-python" and parallel > 1:
        notice(env, "llama-cpp-python's server runs one request at a time: --parallel ignored")
        parallel = 1
    port = port or free_port(host)
    check_port(host, port)
    loader = model_loader(env, settings)
    resolved = loader.store.resolve(spec, loader.progress)  # a local file, even with LLM_ENDPOINT
    plan = Plan(
        resolved.path,
        resolved.spec or resolved.path.stem,
        host,
        port,
        api_key or None,
        parallel,
        settings.ctx,
        settings.threads,
        settings.gpu_layers,
    )
    return _run(env, server_kind, plan, verbose=flags.verbose)


def _run(env: Environment, backend: Backend, plan: Plan, *, verbose: bool) -> int:
    """Start, announce once ready, serve until stopped; always stop and wait for the child."""
    from llmcli.output import notice
    from llmcli.serving import RequestLog, ServerProcess

    log = RequestLog(backend.kind, lambda line: notice(env, line), everything=verbose)
    server = ServerProcess(backend, plan, log)
    slots = f"{plan.parallel} slot{'s' if plan.parallel > 1 else ''}"
    notice(env, f"starting {backend.kind} for {plan.name} ({slots}) on port {plan.port}")
    with _stop_on_signals():
        try:
            server.start(env.environ)
            server.wait_ready()
            notice(env, f"serving {plan.name} at {plan.url} with {backend.kind}; Ctrl-C stops it")
            if plan.api_key:
                notice(env, "clients need the key: set LLM_API_KEY for llm")
            env.stdout.write(f"LLM_ENDPOINT={plan.url}\n")
            env.stdout.flush()
            server.wait()
        except KeyboardInterrupt:
            server.stop()
            notice(env, f"stopped {backend.kind}")
            return ExitCode.OK
        finally:
            server.stop()
    return ExitCode.OK  # pragma: no cover (wait() returns only by raising)


class _stop_on_signals:
    """Ctrl-C and SIGTERM (a service manager, `kill`) stop the server alike, even where the
    shell started us with SIGINT ignored (a background job of a script)."""

    def __enter__(self) -> None:
        import signal

        stopping: list[int] = []

        def stop(signum: int, frame: object) -> None:
            if not stopping:  # a second signal must not cut short the wait for the child
                stopping.append(signum)
                raise KeyboardInterrupt

        self.previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}

    def __exit__(self, *exc: object) -> None:
        import signal

        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def register(app: typer.Typer) -> None:
    app.command("serve", epilog=EPILOG)(serve)
