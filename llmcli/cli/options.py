"""Options shared by the commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

# typer needs Optional[...] spelled out at runtime on 3.10
Model = Annotated[
    Optional[str],
    typer.Option(
        "--model",
        "-m",
        help="Model spec: owner/repo[:QUANT], path.gguf, or alias.",
        show_default=False,
    ),
]
System = Annotated[
    Optional[str],
    typer.Option("--system", "-s", help="System prompt.", show_default=False),
]
Temperature = Annotated[
    Optional[float],
    typer.Option("--temperature", help="Sampling temperature (0 = greedy).", show_default=False),
]
TopP = Annotated[
    Optional[float],
    typer.Option("--top-p", help="Nucleus sampling threshold.", show_default=False),
]
MaxTokens = Annotated[
    Optional[int],
    typer.Option("--max-tokens", help="Stop after this many new tokens.", show_default=False),
]
Seed = Annotated[
    Optional[int],
    typer.Option("--seed", help="Random seed, for repeatable sampling.", show_default=False),
]
Ctx = Annotated[
    Optional[int],
    typer.Option("--ctx", help="Context window in tokens (rounded up to 256).", show_default=False),
]
GpuLayers = Annotated[
    Optional[str],
    typer.Option(
        "--gpu-layers", help="Layers to offload: auto, all, or a number.", show_default=False
    ),
]
Threads = Annotated[
    Optional[int],
    typer.Option("--threads", help="CPU threads.", show_default=False),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show llama.cpp's log.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]
Files = Annotated[
    Optional[list[Path]],
    typer.Option(
        "--file", "-f", help="Read input from this file (repeatable).", show_default=False
    ),
]
TemplateName = Annotated[
    Optional[str],
    typer.Option(
        "--template", "-t", help="Prompt template name or .toml path.", show_default=False
    ),
]
Params = Annotated[
    Optional[list[str]],
    typer.Option(
        "--param", "-p", help="Template parameter key=value (repeatable).", show_default=False
    ),
]
