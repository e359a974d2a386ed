"""`llm models`: pull, quants, list, show, rm, default, alias (verify: models_verify.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from llmcli.cli import options as o
from llmcli.cli.context import setup
from llmcli.cli.models_show import show
from llmcli.cli.models_verify import register as register_verify
from llmcli.cli.options import RunFlags
from llmcli.env import Environment
from llmcli.output import human_size, table

if TYPE_CHECKING:
    from llmcli.models import ModelStore
    from llmcli.models.cache import CachedModel
    from llmcli.models.specs import QuantGroup

HELP = """\
Get models from the Hugging Face Hub and manage the ones on this machine.

A model spec is owner/repo (default quant Q4_K_M), owner/repo:QUANT,
owner/repo/path/file.gguf, hf.co/owner/repo:QUANT, a local .gguf path, an alias,
or smollm2 (the bundled model). Files live in the Hugging Face cache.
"""

Spec = Annotated[
    str, typer.Argument(help="Model spec, e.g. owner/repo:Q4_K_M.", show_default=False)
]
Revision = Annotated[
    str, typer.Option("--revision", help="Branch, tag or commit on the Hub.", show_default=True)
]
_ALIAS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _ex(*lines: str) -> str:
    return "Examples:\n\n" + "\n\n".join(f"  {line}" for line in lines) + "\n"


@o.shared(o.JSON, o.HUB_VERBOSE, o.DEBUG)
def pull(ctx: typer.Context, spec: Spec, revision: Revision = "main", *, flags: RunFlags) -> None:
    """Download a model into the Hugging Face cache (or check that it is up to date)."""
    from llmcli.errors import ModelNotFoundError
    from llmcli.models import BUNDLED_NAME
    from llmcli.models.specs import looks_like_hub_spec, parse_hub_spec
    from llmcli.output import emit_json, make_console
    from llmcli.output.progress import make_progress

    env, store = _store(ctx, flags)
    target = store.expand(spec)
    if target.lower() == BUNDLED_NAME:
        make_console(env).print(f"{BUNDLED_NAME} is bundled with llm: nothing to pull")
        return
    if not looks_like_hub_spec(target):
        raise ModelNotFoundError(f"{spec!r} is not a Hub model spec", hint="use owner/repo[:QUANT]")
    result = store.pull(parse_hub_spec(target), make_progress(env), revision)
    model = result.model
    if flags.json:
        emit_json(
            env, {**_model_json(model), "revision": revision, "downloaded": result.downloaded}
        )
        return
    verb = "pulled" if result.downloaded else "cached:" if store.cache.offline else "up to date:"
    make_console(env).print(
        f"{verb} {model.spec} ({human_size(result.size)})\n{model.paths[0]}",
        highlight=False,
        soft_wrap=True,  # a path the terminal wraps stays copyable
    )


@o.shared(o.JSON, o.HUB_VERBOSE, o.DEBUG)
def quants(
    ctx: typer.Context,
    repo: Annotated[str, typer.Argument(help="owner/repo on the Hub.", show_default=False)],
    revision: Revision = "main",
    *,
    flags: RunFlags,
) -> None:
    """List a repo's GGUF files by quant: size, the default pick, whether it fits in memory."""
    from llmcli.models.specs import default_group, parse_hub_spec, select_group
    from llmcli.output import emit_json

    env, store = _store(ctx, flags)
    hub_spec = parse_hub_spec(repo)
    groups = _repo_groups(env, store, hub_spec.repo, revision)
    if not groups:
        select_group(groups, hub_spec)  # raises: no GGUF files in the repo
    best = default_group(groups)
    rows = [_quant_row(g, g is best) for g in groups]
    if flags.json:
        emit_json(env, {"repo": hub_spec.repo, "revision": revision, "quants": rows})
        return
    table(
        env,
        ["quant", "size", "files", "default", "fits in memory", "file"],
        [
            [
                r["quant"],
                human_size(r["size"]),
                str(len(r["files"])),
                "*" if r["default"] else "",
                r["fits"],
                r["files"][0],
            ]
            for r in rows
        ],
    )


def _repo_groups(env: Environment, store: ModelStore, repo: str, revision: str) -> list[QuantGroup]:
    """The repo's models by quant: from the Hub, or offline from the cache only."""
    from llmcli.errors import ModelNotFoundError
    from llmcli.models.specs import group_files
    from llmcli.output import notice

    if not store.cache.offline:
        return group_files(store.hub.list_repo(repo, revision)[1])
    notice(env, "offline (HF_HUB_OFFLINE): showing the cached files only")
    groups = [m.group for m in store.cache.models(repo)]
    if not groups:
        raise ModelNotFoundError(f"{repo} is not cached and HF_HUB_OFFLINE is set")
    return groups


def _store(ctx: typer.Context, flags: RunFlags) -> tuple[Environment, ModelStore]:
    """The Environment and the one ModelStore of this command."""
    from llmcli.models import ModelStore

    env, settings = setup(ctx, flags)
    return env, ModelStore.from_env(env, settings)


def _quant_row(group: QuantGroup, is_default: bool) -> dict[str, Any]:
    from llmcli.models.fit import fits_memory

    return {
        "quant": group.quant,
        "size": group.size,
        "files": [f.path for f in group.files],
        "default": is_default,
        "fits": fits_memory(group.size),
    }


@o.shared(o.JSON, o.VERBOSE, o.DEBUG)
def list_models(ctx: typer.Context, *, flags: RunFlags) -> None:
    """List the bundled model and every model in the Hugging Face cache."""
    from llmcli.models import BUNDLED_NAME, BUNDLED_QUANT, bundled_model_path
    from llmcli.output import emit_json

    env, store = _store(ctx, flags)
    default_path = _default_path(store)
    rows: list[dict[str, Any]] = []
    bundled = bundled_model_path()
    if bundled is not None:
        rows.append(_row(BUNDLED_NAME, BUNDLED_QUANT, bundled.stat().st_size, bundled, "bundled"))
    for model in store.cache.all():
        rows.append(_row(model.spec, model.group.quant, model.group.size, model.paths[0], "hub"))
    for row in rows:
        row["default"] = row["path"] == default_path
    if flags.json:
        emit_json(env, {"models": rows, "cache": str(store.cache.root)})
        return
    table(
        env,
        ["", "model", "quant", "size", "path"],
        [
            ["*" if r["default"] else "", r["spec"], r["quant"], human_size(r["size"]), r["path"]]
            for r in rows
        ],
    )


def _row(spec: str, quant: str, size: int, path: Path, source: str) -> dict[str, Any]:
    return {"spec": spec, "quant": quant, "size": size, "path": str(path), "source": source}


def _default_path(store: ModelStore) -> str | None:
    from llmcli.errors import LlmError

    try:
        return str(store.resolve(None).path)
    except LlmError:
        return None


@o.shared(o.JSON, o.VERBOSE, o.DEBUG)
def rm(ctx: typer.Context, spec: Spec, *, flags: RunFlags) -> None:
    """Remove a downloaded model from the cache (owner/repo alone: every quant of it)."""
    from llmcli.output import emit_json, make_console

    env, store = _store(ctx, flags)
    removed, freed = store.remove(spec)
    if flags.json:
        emit_json(env, {"removed": [_model_json(m) for m in removed], "freed": freed})
        return
    names = ", ".join(m.spec for m in removed)
    make_console(env).print(f"removed {names}: freed {human_size(freed)}", highlight=False)


def _model_json(model: CachedModel) -> dict[str, Any]:
    return {
        "spec": model.spec,
        "repo": model.repo,
        "quant": model.group.quant,
        "commit": model.commit,
        "files": [str(p) for p in model.paths],
        "path": str(model.paths[0]),
        "size": model.group.size,
    }


@o.shared(o.DEBUG)
def default(
    ctx: typer.Context,
    spec: Annotated[Optional[str], typer.Argument(help="Model spec to use by default.")] = None,
    unset: Annotated[bool, typer.Option("--unset", help="Go back to the bundled model.")] = False,
    *,
    flags: RunFlags,
) -> None:
    """Show or set the default model (written to config.toml)."""
    from llmcli.config import write_config_value
    from llmcli.models import BUNDLED_NAME
    from llmcli.output import make_console

    env, store = _store(ctx, flags)
    console = make_console(env)
    if unset or spec is None:
        if unset:
            write_config_value(env, "model", None)
        current = None if unset else store.default
        console.print(current or f"{BUNDLED_NAME} (bundled)", highlight=False)
        return
    value = _checked_spec(env, store, spec)
    path = write_config_value(env, "model", value)
    console.print(f"default model: {value} (in {path})", highlight=False)


@o.shared(o.DEBUG)
def alias(
    ctx: typer.Context,
    name: Annotated[Optional[str], typer.Argument(help="Alias name.")] = None,
    spec: Annotated[Optional[str], typer.Argument(help="Model spec it stands for.")] = None,
    remove_it: Annotated[bool, typer.Option("--rm", help="Delete the alias.")] = False,
    *,
    flags: RunFlags,
) -> None:
    """List aliases, set NAME to SPEC, or delete one with --rm (written to config.toml)."""
    from llmcli.config import read_config_file, write_config_value
    from llmcli.errors import UsageError
    from llmcli.models import BUNDLED_NAME
    from llmcli.output import make_console

    env, store = _store(ctx, flags)
    console = make_console(env)
    if name is None:
        for key, value in sorted(store.aliases.items()):
            console.print(f"{key} = {value}", highlight=False)
        return
    if not _ALIAS_RE.match(name) or name.lower() == BUNDLED_NAME:
        raise UsageError(f"alias name {name!r} must be a plain word (letters, digits, . _ -)")
    if remove_it:
        written = read_config_file(env.config_path).get("aliases")  # bad entries too
        if not isinstance(written, dict) or name not in written:
            raise UsageError(f"no alias {name!r}")
        write_config_value(env, ("aliases", name), None)
        console.print(f"removed alias {name}", highlight=False)
        return
    if spec is None:
        raise UsageError("give the SPEC the alias stands for (or --rm)")
    value = _checked_spec(env, store, spec)
    write_config_value(env, ("aliases", name), value)
    console.print(f"{name} = {value}", highlight=False)


def _checked_spec(env: Environment, store: ModelStore, spec: str) -> str:
    """A spec fit for the config: valid syntax; a local path made absolute."""
    from llmcli.errors import ModelNotFoundError
    from llmcli.models import BUNDLED_NAME, local_path, path_exists
    from llmcli.models.specs import looks_like_hub_spec, parse_hub_spec
    from llmcli.output import notice

    if spec.lower() == BUNDLED_NAME or spec in store.aliases:
        return spec
    local = local_path(spec)
    if path_exists(local):
        return str(local.resolve())
    if not looks_like_hub_spec(spec):
        raise ModelNotFoundError(
            f"unknown model {spec!r}: not a local file, an alias or owner/repo"
        )
    hub_spec = parse_hub_spec(spec)
    if store.cache.find(hub_spec) is None:
        notice(env, f"{hub_spec} is not downloaded yet: it will be pulled on first use")
    return spec


def register(app: typer.Typer) -> None:
    models = typer.Typer(
        name="models",
        help=HELP,
        no_args_is_help=True,
        epilog=_ex(
            "llm models pull bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M",
            "llm models quants bartowski/Qwen2.5-0.5B-Instruct-GGUF",
            "llm models list",
        ),
    )
    models.command(
        "pull",
        epilog=_ex(
            "llm models pull bartowski/Qwen2.5-0.5B-Instruct-GGUF",
            "llm models pull hf.co/bartowski/Qwen2.5-0.5B-Instruct-GGUF:q8_0",
            "llm models pull owner/repo/subdir/model-Q4_K_M.gguf --revision v1.0",
        ),
    )(pull)
    models.command(
        "quants",
        epilog=_ex(
            "llm models quants bartowski/Qwen2.5-0.5B-Instruct-GGUF",
            "llm models quants owner/repo --json | jq -r '.quants[].quant'",
        ),
    )(quants)
    models.command("list", epilog=_ex("llm models list", "llm models list --json"))(list_models)
    models.command(
        "show", epilog=_ex("llm models show", "llm models show owner/repo:Q4_K_M --json")
    )(show)
    models.command(
        "rm",
        epilog=_ex(
            "llm models rm owner/repo:Q8_0", "llm models rm owner/repo   # every quant of it"
        ),
    )(rm)
    models.command(
        "default",
        epilog=_ex(
            "llm models default owner/repo:Q4_K_M",
            "llm models default",
            "llm models default --unset",
        ),
    )(default)
    models.command(
        "alias",
        epilog=_ex(
            "llm models alias qwen bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M",
            'llm run -m qwen "hi"',
            "llm models alias",
            "llm models alias qwen --rm",
        ),
    )(alias)
    register_verify(models)
    app.add_typer(models, name="models")
