"""Options shared by the commands, declared once, and the one typed record they become.

Typer cannot bundle options (typer#264), so `shared(*groups)` adds each group's options to a
command's signature and hands the command one `RunFlags` (model, runtime, sampling, output)
in their place. A command declares `flags: RunFlags` and reads only that; its own options stay
in its signature. tests/test_options.py walks every command and proves each shared flag
reaches the engine's settings.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

# Options a command declares in its own signature (typer needs Optional spelled out on 3.10).
System = Annotated[
    Optional[str],
    typer.Option("--system", "-s", help="System prompt.", show_default=False),
]
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
SchemaSpec = Annotated[
    Optional[str],
    typer.Option(
        "--schema",
        help="JSON Schema the reply must match: inline JSON, a .json file, or the short form "
        "'name, age int, tags list' (a description after a colon).",
        show_default=False,
    ),
]
GrammarFile = Annotated[
    Optional[Path],
    typer.Option(
        "--grammar",
        help="GBNF grammar file that constrains the reply (llama.cpp's format).",
        show_default=False,
        dir_okay=False,
    ),
]
BatchLines = Annotated[
    bool,
    typer.Option(
        "--batch", "-b", help="With a schema: one JSON object per input line (JSONL out)."
    ),
]
JsonField = Annotated[
    Optional[str],
    typer.Option(
        "--field", help="With --batch: read JSONL, the text in this field.", show_default=False
    ),
]


def _value(kind: type, *decls: str, help: str) -> tuple[Any, None]:
    """A shared option taking a value, unset (None) by default: (annotation, default)."""
    return Annotated[Optional[kind], typer.Option(*decls, help=help, show_default=False)], None


def _many(kind: type, *decls: str, help: str) -> tuple[Any, None]:
    """A repeatable shared option: RunFlags gets a tuple (empty when not given)."""
    return Annotated[
        Optional[list[kind]],  # type: ignore[valid-type]
        typer.Option(*decls, help=help, show_default=False),
    ], None


def _switch(*decls: str, help: str) -> tuple[Any, bool]:
    return Annotated[bool, typer.Option(*decls, help=help)], False


@dataclass(frozen=True)
class Runtime:
    """How the model runs: context size, GPU offload, CPU threads."""

    ctx: int | None = None
    gpu_layers: str | None = None
    threads: int | None = None


@dataclass(frozen=True)
class Sampling:
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None


@dataclass(frozen=True)
class RunFlags:
    """The shared flags of one command run, typed; unset values are None."""

    model: str | None = None
    endpoints: tuple[str, ...] = ()  # --endpoint, in order: one is the engine, more fan out
    chat_template: str | None = None
    runtime: Runtime = field(default_factory=Runtime)
    sampling: Sampling = field(default_factory=Sampling)
    json: bool = False
    verbose: bool = False
    debug: bool = False
    think: bool | None = None  # None: the model's default; GenerationOptions.think
    show_thinking: bool = False
    parallel: int | None = None  # --parallel: requests in flight per server (fan-out)

    def overrides(self) -> dict[str, Any]:
        """The Settings these flags override (None: not given)."""
        runtime, sampling = self.runtime, self.sampling
        return {
            "model": self.model,
            "endpoints": self.endpoints or None,
            "chat_template": self.chat_template,
            "ctx": runtime.ctx,
            "gpu_layers": runtime.gpu_layers,
            "threads": runtime.threads,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "seed": sampling.seed,
        }


@dataclass(frozen=True)
class Group:
    """Options that travel together; `part` is the RunFlags field they fill (None: the top)."""

    options: tuple[tuple[str, Any, Any], ...]  # (RunFlags field name, annotation, default)
    part: str | None = None


_GPU = "Layers to offload: auto, all, or a number."
_SPEC = (
    "Model spec: owner/repo[:QUANT], path.gguf, alias, or @NAME[/ID] (a server from "
    "[endpoints.NAME]); with --endpoint, the server's model id."
)
_ENDPOINT = (
    "OpenAI-compatible server URL (http://host:port[/v1]) or @NAME; repeatable. "
    "Default: LLM_ENDPOINT."
)
_CHAT_TEMPLATE = "Chat template over the model's own: a Jinja file or a built-in format name."
MODEL = Group(
    (
        ("model", *_value(str, "--model", "-m", help=_SPEC)),
        ("endpoints", *_many(str, "--endpoint", help=_ENDPOINT)),
        ("chat_template", *_value(str, "--chat-template", help=_CHAT_TEMPLATE)),
    )
)
SAMPLING = Group(
    (
        ("temperature", *_value(float, "--temperature", help="Sampling temperature (0 = greedy).")),
        ("top_p", *_value(float, "--top-p", help="Nucleus sampling threshold.")),
        ("max_tokens", *_value(int, "--max-tokens", help="Stop after this many new tokens.")),
        ("seed", *_value(int, "--seed", help="Random seed, for repeatable sampling.")),
    ),
    part="sampling",
)
RUNTIME = Group(
    (
        ("ctx", *_value(int, "--ctx", help="Context window in tokens (rounded up to 256).")),
        ("gpu_layers", *_value(str, "--gpu-layers", help=_GPU)),
        ("threads", *_value(int, "--threads", help="CPU threads.")),
    ),
    part="runtime",
)
JSON = Group((("json", *_switch("--json", help="Print one JSON object.")),))
VERBOSE = Group((("verbose", *_switch("--verbose", "-v", help="Show llama.cpp's log.")),))
HUB_VERBOSE = Group(
    (("verbose", *_switch("--verbose", "-v", help="Show huggingface_hub's log (retries).")),)
)
DEBUG = Group((("debug", *_switch("--debug", help="Show tracebacks on errors.")),))
_THINK = (
    "Reasoning models: think before answering, or not "
    "(default: the model's own; off for summarize and translate)."
)
THINK = Group((("think", *_value(bool, "--think/--no-think", help=_THINK)),))
_SHOW = "Show the thinking of reasoning models (piped output drops it otherwise)."
SHOW_THINKING = Group((("show_thinking", *_switch("--show-thinking", help=_SHOW)),))
MODEL_COMMAND = (MODEL, SAMPLING, RUNTIME, JSON, VERBOSE, DEBUG, THINK)  # run, summarize, translate
_PARALLEL = (
    "Requests in flight per server (with --endpoint; the in-process model runs one at a "
    "time). llm serve: the server's parallel slots."
)
FANOUT = Group((("parallel", *_value(int, "--parallel", help=_PARALLEL)),))

_MANY = {"endpoints"}  # repeatable: a tuple in RunFlags
_PARTS = {"runtime": Runtime, "sampling": Sampling}
PREFIX = "shared_"  # keeps the added parameters apart from a command's own (e.g. `ctx`)
F = TypeVar("F", bound=Callable[..., Any])


def shared(*groups: Group) -> Callable[[F], F]:
    """Give a command these groups' options; it receives them as one `flags: RunFlags`."""

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "flags"]
        added = [
            inspect.Parameter(
                PREFIX + name, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a
            )
            for group in groups
            for name, a, d in group.options
        ]

        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            values = {p.name[len(PREFIX) :]: kwargs.pop(p.name) for p in added}
            return command(*args, flags=build_flags(groups, values), **kwargs)

        run.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in [*own, *added]}
        run.shared_groups = groups  # type: ignore[attr-defined]  # for tests/test_options.py
        return run  # type: ignore[return-value]

    return decorate


def build_flags(groups: tuple[Group, ...], values: dict[str, Any]) -> RunFlags:
    """Parsed option values -> RunFlags; a name that is no field fails loudly (TypeError)."""
    top: dict[str, Any] = {}
    parts: dict[str, dict[str, Any]] = {}
    for group in groups:
        target = top if group.part is None else parts.setdefault(group.part, {})
        for name, _, _ in group.options:
            value = values[name]
            target[name] = tuple(value) if isinstance(value, list) else value
            if value is None and name in _MANY:
                target[name] = ()
    for part, given in parts.items():
        top[part] = _PARTS[part](**given)
    return RunFlags(**top)


def flag_names() -> dict[str, str]:
    """RunFlags field path (e.g. "runtime.ctx") -> the flag users type, for tests and docs."""
    found: dict[str, str] = {}
    for group in (MODEL, RUNTIME, SAMPLING, JSON, VERBOSE, DEBUG, THINK, SHOW_THINKING, FANOUT):
        for name, annotation, _ in group.options:
            info = annotation.__metadata__[0]
            decls = [info.default, *(info.param_decls or ())]
            flag = next(d for d in decls if isinstance(d, str) and d.startswith("--"))
            flag = flag.split("/", 1)[0]  # --think/--no-think: the first
            found[f"{group.part}.{name}" if group.part else name] = flag
    return found
