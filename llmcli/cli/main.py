"""Entry point, and the one place where exceptions become exit codes."""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Sequence

from llmcli.env import Environment
from llmcli.errors import ExitCode, LlmError


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    env = env or Environment()
    env.debug = env.debug or "--debug" in args or bool(env.environ.get("LLM_DEBUG"))
    try:
        return _invoke(args, env)
    except LlmError as exc:
        return _fail(env, exc.message, exc.hint, exc.exit_code)
    except KeyboardInterrupt:
        return _fail(env, "interrupted", None, ExitCode.INTERRUPTED)
    except BrokenPipeError:
        _silence_stdout()
        return ExitCode.OK  # the reader (`| head`) has all it wanted
    except Exception as exc:
        return _fail(env, f"unexpected {type(exc).__name__}: {exc}", "rerun with --debug", 1)


def _invoke(args: list[str], env: Environment) -> int:
    import typer
    import typer.main
    from typer._click import exceptions as click_errors  # typer vendors its own click

    from llmcli.cli.app import build_app

    cli = typer.main.get_command(build_app())
    try:
        result = cli.main(args=args, prog_name="llm", standalone_mode=False, obj=env)
    except typer.Abort:
        raise KeyboardInterrupt from None
    except click_errors.ClickException as exc:
        if env.debug:
            traceback.print_exc(file=env.stderr)
        exc.show(file=env.stderr)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    if result == ExitCode.INTERRUPTED:  # typer turns Ctrl-C into a quiet Exit(130)
        raise KeyboardInterrupt
    return int(result) if isinstance(result, int) else ExitCode.OK


def _fail(env: Environment, message: str, hint: str | None, code: int) -> int:
    from llmcli.output import error_line

    if env.debug:
        traceback.print_exc(file=env.stderr)
    with contextlib.suppress(BrokenPipeError, OSError):
        error_line(env, message, hint)
    return int(code)


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def entry() -> None:
    raise SystemExit(main())
