"""`llm models`: pull, quants, list, show, rm, default, alias."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from llmcli.cli import options as o
from llmcli.cli.common import setup
from llmcli.env import Environment

if TYPE_CHECKING:
    from llmcli.config import Settings
    from llmcli.hfcache import CachedModel
    from llmcli.specs import QuantGroup

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
HubVerbose = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show huggingface_hub's log (retries).")
]
_ALIAS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
HEADROOM = 512 * 1024**2  # context and runtime buffers on top of the weights


def _ex(*lines: str) -> str:
    return "Examples:\n\n" + "\n\n".join(f"  {line}" for line in lines) + "\n"


def pull(
    ctx: typer.Context,
    spec: Spec,
    revision: Revision = "main",
    json_out: o.Json = False,
    verbose: HubVerbose = False,
    debug: o.Debug = False,
) -> None:
    """Download a model into the Hugging Face cache (or check that it is up to date)."""
    from llmcli.cli.progress import human_size, make_progress
    from llmcli.errors import ModelNotFoundError
    from llmcli.hfcache import is_offline
    from llmcli.hub import BUNDLED_NAME, expand_alias, pull_model
    from llmcli.render import emit_json, make_console
    from llmcli.specs import looks_like_hub_spec, parse_hub_spec

    env, settings = setup(ctx)
    target = expand_alias(spec, settings)
    if target.lower() == BUNDLED_NAME:
        make_console(env).print(f"{BUNDLED_NAME} is bundled with llm: nothing to pull")
        return
    if not looks_like_hub_spec(target):
        raise ModelNotFoundError(f"{spec!r} is not a Hub model spec", hint="use owner/repo[:QUANT]")
    result = pull_model(env, parse_hub_spec(target), make_progress(env), revision)
    model = result.model
    if json_out:
        emit_json(
            env, {**_model_json(model), "revision": revision, "downloaded": result.downloaded}
        )
        return
    verb = (
        "pulled" if result.downloaded else "cached:" if is_offline(env.environ) else "up to date:"
    )
    make_console(env).print(
        f"{verb} {model.spec} ({human_size(result.size)})\n{model.paths[0]}",
        highlight=False,
        soft_wrap=True,  # a path the terminal wraps stays copyable
    )


def quants(
    ctx: typer.Context,
    repo: Annotated[str, typer.Argument(help="owner/repo on the Hub.", show_default=False)],
    revision: Revision = "main",
    json_out: o.Json = False,
    verbose: HubVerbose = False,
    debug: o.Debug = False,
) -> None:
    """List a repo's GGUF files by quant: size, the default pick, whether it fits in memory."""
    from llmcli.download import list_repo
    from llmcli.errors import ModelNotFoundError
    from llmcli.hfcache import cached_models, hub_cache_dir, is_offline
    from llmcli.render import emit_json, notice
    from llmcli.specs import default_group, group_files, parse_hub_spec, select_group

    env, _ = setup(ctx)
    hub_spec = parse_hub_spec(repo)
    if is_offline(env.environ):
        notice(env, "offline (HF_HUB_OFFLINE): showing the cached files only")
        groups = [m.group for m in cached_models(hub_cache_dir(env.environ), hub_spec.repo)]
        if not groups:
            raise ModelNotFoundError(f"{hub_spec.repo} is not cached and HF_HUB_OFFLINE is set")
    else:
        groups = group_files(list_repo(env, hub_spec.repo, revision)[1])
    if not groups:
        select_group(groups, hub_spec)  # raises: no GGUF files in the repo
    best = default_group(groups)
    rows = [_quant_row(g, g is best) for g in groups]
    if json_out:
        emit_json(env, {"repo": hub_spec.repo, "revision": revision, "quants": rows})
        return
    _table(
        env,
        ["quant", "size", "files", "default", "fits in memory", "file"],
        [
            [
                r["quant"],
                _size(r["size"]),
                str(len(r["files"])),
                "*" if r["default"] else "",
                r["fits"],
                r["files"][0],
            ]
            for r in rows
        ],
    )


def _quant_row(group: QuantGroup, is_default: bool) -> dict[str, Any]:
    return {
        "quant": group.quant,
        "size": group.size,
        "files": [f.path for f in group.files],
        "default": is_default,
        "fits": fits_memory(group.size),
    }


def fits_memory(size: int) -> str:
    """'yes' within free memory, 'tight' within total memory, else 'no'."""
    total, available = _memory()
    need = size + HEADROOM
    if not total:
        return "unknown"
    return "yes" if need <= available else "tight" if need <= total else "no"


def _memory() -> tuple[int, int]:
    import os

    try:
        page = os.sysconf("SC_PAGE_SIZE")
        total = page * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0, 0
    available = total
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return total, available


def list_models(
    ctx: typer.Context, json_out: o.Json = False, verbose: o.Verbose = False, debug: o.Debug = False
) -> None:
    """List the bundled model and every model in the Hugging Face cache."""
    from llmcli.hfcache import all_cached, hub_cache_dir
    from llmcli.hub import BUNDLED_NAME, bundled_model_path
    from llmcli.render import emit_json

    env, settings = setup(ctx)
    default_path = _default_path(env, settings)
    rows: list[dict[str, Any]] = []
    bundled = bundled_model_path()
    if bundled is not None:
        rows.append(_row(BUNDLED_NAME, "Q4_1", bundled.stat().st_size, bundled, "bundled"))
    for model in all_cached(hub_cache_dir(env.environ)):
        rows.append(_row(model.spec, model.group.quant, model.group.size, model.paths[0], "hub"))
    for row in rows:
        row["default"] = row["path"] == default_path
    if json_out:
        emit_json(env, {"models": rows, "cache": str(hub_cache_dir(env.environ))})
        return
    _table(
        env,
        ["", "model", "quant", "size", "path"],
        [
            ["*" if r["default"] else "", r["spec"], r["quant"], _size(r["size"]), r["path"]]
            for r in rows
        ],
    )


def _row(spec: str, quant: str, size: int, path: Path, source: str) -> dict[str, Any]:
    return {"spec": spec, "quant": quant, "size": size, "path": str(path), "source": source}


def _default_path(env: Environment, settings: Settings) -> str | None:
    from llmcli.errors import LlmError
    from llmcli.hub import resolve_model

    try:
        return str(resolve_model(None, settings, env).path)
    except LlmError:
        return None


def show(
    ctx: typer.Context,
    spec: Annotated[
        Optional[str], typer.Argument(help="Model spec (default: the default model).")
    ] = None,
    json_out: o.Json = False,
    verbose: o.Verbose = False,
    debug: o.Debug = False,
) -> None:
    """Show a model's architecture, size, quant and context, read from its GGUF header."""
    from llmcli.cli.progress import make_progress
    from llmcli.gguf import read_gguf
    from llmcli.hub import resolve_model
    from llmcli.render import emit_json

    env, settings = setup(ctx)
    resolved = resolve_model(spec, settings, env, make_progress(env))
    info = read_gguf(resolved.path)
    files = resolved.files or (resolved.path,)
    data = {
        "spec": resolved.spec,
        "source": resolved.source,
        "repo": resolved.repo,
        "name": info.name,
        "architecture": info.architecture,
        "parameters": info.parameter_count,
        "quant": info.quant or resolved.quant,
        "context_length": info.context_length,
        "chat_template": info.chat_template is not None,
        "gguf_version": info.version,
        "files": [str(p) for p in files],
        "path": str(resolved.path),
        "size": sum(p.stat().st_size for p in files),
    }
    if json_out:
        emit_json(env, data)
        return
    data["parameters"] = _count(info.parameter_count)
    data["size"] = _size(sum(p.stat().st_size for p in files))
    data["chat_template"] = "yes" if info.chat_template else "no (a generic format is used)"
    data["files"] = len(files)
    _table(env, None, [[k.replace("_", " "), str(v)] for k, v in data.items() if v is not None])


def rm(
    ctx: typer.Context,
    spec: Spec,
    json_out: o.Json = False,
    verbose: o.Verbose = False,
    debug: o.Debug = False,
) -> None:
    """Remove a downloaded model from the cache (owner/repo alone: every quant of it)."""
    from llmcli.hub import remove
    from llmcli.render import emit_json, make_console

    env, settings = setup(ctx)
    removed, freed = remove(env, spec, settings)
    if json_out:
        emit_json(env, {"removed": [_model_json(m) for m in removed], "freed": freed})
        return
    names = ", ".join(m.spec for m in removed)
    make_console(env).print(f"removed {names}: freed {_size(freed)}", highlight=False)


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


def default(
    ctx: typer.Context,
    spec: Annotated[Optional[str], typer.Argument(help="Model spec to use by default.")] = None,
    unset: Annotated[bool, typer.Option("--unset", help="Go back to the bundled model.")] = False,
    debug: o.Debug = False,
) -> None:
    """Show or set the default model (written to config.toml)."""
    from llmcli.config import write_config_value
    from llmcli.hub import BUNDLED_NAME
    from llmcli.render import make_console

    env, settings = setup(ctx)
    console = make_console(env)
    if unset or spec is None:
        if unset:
            write_config_value(env, "model", None)
        current = None if unset else settings.model
        console.print(current or f"{BUNDLED_NAME} (bundled)", highlight=False)
        return
    value = _checked_spec(env, spec, settings)
    path = write_config_value(env, "model", value)
    console.print(f"default model: {value} (in {path})", highlight=False)


def alias(
    ctx: typer.Context,
    name: Annotated[Optional[str], typer.Argument(help="Alias name.")] = None,
    spec: Annotated[Optional[str], typer.Argument(help="Model spec it stands for.")] = None,
    remove_it: Annotated[bool, typer.Option("--rm", help="Delete the alias.")] = False,
    debug: o.Debug = False,
) -> None:
    """List aliases, set NAME to SPEC, or delete one with --rm (written to config.toml)."""
    from llmcli.config import write_config_value
    from llmcli.errors import UsageError
    from llmcli.hub import BUNDLED_NAME
    from llmcli.render import make_console

    env, settings = setup(ctx)
    console = make_console(env)
    if name is None:
        for key, value in sorted(settings.aliases.items()):
            console.print(f"{key} = {value}", highlight=False)
        return
    if not _ALIAS_RE.match(name) or name.lower() == BUNDLED_NAME:
        raise UsageError(f"alias name {name!r} must be a plain word (letters, digits, . _ -)")
    if remove_it:
        if name not in settings.aliases:
            raise UsageError(f"no alias {name!r}")
        write_config_value(env, f"aliases.{name}", None)
        console.print(f"removed alias {name}", highlight=False)
        return
    if spec is None:
        raise UsageError("give the SPEC the alias stands for (or --rm)")
    value = _checked_spec(env, spec, settings)
    write_config_value(env, f"aliases.{name}", value)
    console.print(f"{name} = {value}", highlight=False)


def _checked_spec(env: Environment, spec: str, settings: Settings) -> str:
    """A spec fit for the config: valid syntax; a local path made absolute."""
    from llmcli.errors import ModelNotFoundError
    from llmcli.hub import BUNDLED_NAME, find_cached
    from llmcli.render import notice
    from llmcli.specs import looks_like_hub_spec, parse_hub_spec

    if spec.lower() == BUNDLED_NAME or spec in settings.aliases:
        return spec
    local = Path(spec).expanduser()
    if local.exists():
        return str(local.resolve())
    if not looks_like_hub_spec(spec):
        raise ModelNotFoundError(
            f"unknown model {spec!r}: not a local file, an alias or owner/repo"
        )
    hub_spec = parse_hub_spec(spec)
    if find_cached(env, hub_spec) is None:
        notice(env, f"{hub_spec} is not downloaded yet: it will be pulled on first use")
    return spec


def _table(env: Environment, headers: list[str] | None, rows: list[list[str]]) -> None:
    from rich.table import Table

    from llmcli.render import make_console

    if not env.stdout_isatty:  # a pipe: aligned columns, never folded, no trailing spaces
        lines = ([headers] if headers else []) + rows
        widths = (
            [max(len(line[i]) for line in lines) for i in range(len(lines[0]))] if lines else []
        )
        for line in lines:
            text = "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
            env.stdout.write(text.rstrip() + "\n")
        env.stdout.flush()
        return
    table = Table(show_header=headers is not None, box=None, pad_edge=False, header_style="bold")
    for header in headers or [""] * len(rows[0] if rows else []):
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    make_console(env).print(table)


def _size(n: int) -> str:
    from llmcli.cli.progress import human_size

    return human_size(n)


def _count(n: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)


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
    app.add_typer(models, name="models")
