"""The typer application: every command group registers itself here."""

from __future__ import annotations

import importlib

import typer

HELP = """\
Local large language models on the command line.

Runs quantized GGUF models in-process (CPU or GPU) through llama.cpp. Works offline with
the bundled SmolLM2-135M-Instruct; pulls any GGUF model from the Hugging Face Hub.
"""

EPILOG = """\
Examples:

  llm chat

  cat report.txt | llm summarize --length short

  llm translate --to pt "Good morning"

  llm sentiment "I love this phone"

  llm models pull bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M

Exit codes: 0 ok, 1 error, 2 usage, 3 model not found or unusable,
4 input invalid or too long for the context, 130 interrupted.
"""

# Each module has `register(app)`; none imports llama_cpp or huggingface_hub at import time.
COMMAND_MODULES = (
    "run",
    "chat",
    "summarize",
    "translate",
    "sentiment",
    "serve",
    "models",
    "templates",
    "info",
    "completion",
)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="llm",
        help=HELP,
        epilog=EPILOG,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
        pretty_exceptions_enable=False,
    )
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"llmcli.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"llmcli.cli.{name}":
                raise
            continue  # command group not built yet
        module.register(app)
    return app
