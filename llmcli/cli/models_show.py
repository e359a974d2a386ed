"""`llm models show`: what a model is (header) and can do (chat template, thinking)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from llmcli.cli import options as o
from llmcli.cli.context import setup
from llmcli.cli.options import RunFlags
from llmcli.output import human_count, human_size, table

if TYPE_CHECKING:
    from llmcli.engine.modelcard import ChatCard


@o.shared(o.JSON, o.VERBOSE, o.DEBUG)
def show(
    ctx: typer.Context,
    spec: Annotated[
        Optional[str], typer.Argument(help="Model spec (default: the default model).")
    ] = None,
    *,
    flags: RunFlags,
) -> None:
    """Show what a model is and can do: architecture, parameters, quant, context length, its
    chat template (own, a built-in format, or none: a base model) and thinking support."""
    from llmcli.engine.gguf import read_gguf
    from llmcli.engine.modelcard import chat_card
    from llmcli.models import ModelStore
    from llmcli.output import emit_json
    from llmcli.output.progress import make_progress
    from llmcli.runtime import chat_template_for

    env, settings = setup(ctx, flags)
    store = ModelStore.from_env(env, settings)
    resolved = store.resolve(spec, make_progress(env))
    info = read_gguf(resolved.path)
    card = chat_card(info, chat_template_for(settings, resolved.path, resolved))
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
        "template": _template_json(card),
        "thinking": card.thinking,
        "gguf_version": info.version,
        "files": [str(p) for p in files],
        "path": str(resolved.path),
        "size": sum(p.stat().st_size for p in files),
    }
    if flags.json:
        emit_json(env, data)
        return
    data["parameters"] = human_count(info.parameter_count)
    data["size"] = human_size(sum(p.stat().st_size for p in files))
    del data["chat_template"]
    data["template"] = card.describe()
    data["thinking"] = "yes" if card.thinking else "no"
    data["files"] = len(files)
    table(env, None, [[k.replace("_", " "), str(v)] for k, v in data.items() if v is not None])


def _template_json(card: ChatCard) -> dict[str, Any]:
    if card.template is None:
        return {"kind": "unknown", "name": None, "problem": card.problem}
    return {"kind": card.template.kind, "name": card.template.name or None}
