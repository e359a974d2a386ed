"""`llm models verify [SPEC]`: re-hash cached models against the hashes the Hub recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from llmcli.cli import options as o
from llmcli.cli.context import setup
from llmcli.cli.options import RunFlags

if TYPE_CHECKING:
    from llmcli.env import Environment
    from llmcli.models import ModelStore
    from llmcli.models.cache import CachedModel
    from llmcli.models.verify import FileCheck

EPILOG = """\
Examples:

  llm models verify

  llm models verify bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M

  llm models verify --json | jq '.files[] | select(.status != "ok")'

Each file of a cached model is hashed and compared with the hash the Hub sent when it was
downloaded (its sha256; the cache names the file after it). Exit 3 when one does not match:
remove it (`llm models rm SPEC`) and pull it again.
"""


@o.shared(o.JSON, o.DEBUG)
def verify(
    ctx: typer.Context,
    spec: Annotated[
        Optional[str],  # typer needs Optional spelled out on 3.10
        typer.Argument(help="A cached model (owner/repo[:QUANT]); all of them if left out."),
    ] = None,
    *,
    flags: RunFlags,
) -> None:
    """Check cached model files against the Hub's sha256 (all models, or one)."""
    from llmcli.errors import ModelLoadError
    from llmcli.models import ModelStore
    from llmcli.models.verify import check_model, mismatch_line
    from llmcli.output import emit_json, notice
    from llmcli.output.progress import CHECKING, make_progress

    env, settings = setup(ctx, flags)
    store = ModelStore.from_env(env, settings)
    models = _models(store, spec)
    checks = [(m, c) for m in models for c in check_model(m, make_progress(env, CHECKING))]
    if flags.json:
        emit_json(env, {"files": [_row(m, c) for m, c in checks], "cache": str(store.cache.root)})
    else:
        _print(env, checks)
    bad = [c for _, c in checks if c.ok is False]
    unknown = sum(c.ok is None for _, c in checks)
    if unknown and not flags.json:
        notice(env, f"{_count(unknown, 'file')} without a recorded hash (not LFS): not checked")
    if bad:
        raise ModelLoadError(
            f"{len(bad)} of {len(checks)} files do not match the Hub's hash: {mismatch_line(bad[0])}",
            hint="llm models rm SPEC, then llm models pull SPEC",
        )


def _models(store: ModelStore, spec: str | None) -> list[CachedModel]:
    from llmcli.errors import ModelNotFoundError

    if spec is None:
        models = list(store.cache.all())
        if not models:
            raise ModelNotFoundError(f"no models in the cache ({store.cache.root}) to verify")
        return models
    return store.cached(spec, "have a recorded hash")


def _row(model: CachedModel, check: FileCheck) -> dict[str, object]:
    return {
        "model": model.spec,
        "path": str(check.path),
        "size": check.size,
        "algorithm": check.algorithm,
        "expected": check.expected,
        "actual": check.actual,
        "status": check.status,
    }


def _print(env: Environment, checks: list[tuple[CachedModel, FileCheck]]) -> None:
    """One line per file, then what was checked in all."""
    from llmcli.output import human_size, make_console

    console = make_console(env)
    for model, check in checks:
        what = f"{check.algorithm} " if check.algorithm else ""
        console.print(
            f"{check.status:<8} {model.spec}  {check.path.name}  {what}({human_size(check.size)})",
            highlight=False,
            soft_wrap=True,
        )
    total = sum(c.size for _, c in checks)
    files, models = len(checks), len({m.spec for m, _ in checks})
    console.print(
        f"checked {_count(files, 'file')} of {_count(models, 'model')} ({human_size(total)})",
        highlight=False,
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def register(models: typer.Typer) -> None:
    models.command("verify", epilog=EPILOG)(verify)
