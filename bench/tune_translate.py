"""Try translate templates on the FLORES EN->PT dev lines: chrF of each, in-process.

Not a section of docs/benchmarks.md: the tool behind the figures in the header comment of
`llmcli/prompts/builtin/translate.toml`. One model load, then each template through the real
`Translator` (as `llm translate --lines` runs it, or as one document of paragraphs), and the
plain one-line prompt of bench/quality.py for reference:

    .venv/bin/python -m bench.tune_translate plain llmcli/prompts/builtin/translate.toml
    .venv/bin/python -m bench.tune_translate --unit paragraph --paragraphs 4 my.toml:1.3

`PATH:N` overrides the template's repeat penalty with N.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench.common import model_path, threads
from bench.quality import TRANSLATE_PROMPT, _chrf, _plain, _read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "templates", nargs="+", help="template files (PATH[:REPEAT_PENALTY]) or plain"
    )
    parser.add_argument("--unit", choices=("sentence", "paragraph"), default="sentence")
    parser.add_argument("--paragraphs", type=int, default=0, help="join N lines per paragraph")
    args = parser.parse_args()
    from llmcli.engine import EngineParams
    from llmcli.engine.llama import LlamaEngine

    english = _read("translate_dev.en").splitlines()
    reference = _read("translate_dev.pt").splitlines()
    if args.paragraphs:
        english, reference = _join(english, args.paragraphs), _join(reference, args.paragraphs)
    engine = LlamaEngine.load(EngineParams(model_path(), n_ctx=4096, threads=threads()))
    try:
        for spec in args.templates:
            start = time.perf_counter()
            out = (
                _plain_all(engine, english)
                if spec == "plain"
                else _ours(engine, spec, english, args)
            )
            took = time.perf_counter() - start
            print(f"{spec}\tchrF {_chrf(out, reference):.2f}\t{took:.0f} s", flush=True)
    finally:
        engine.close()


def _join(lines: list[str], n: int) -> list[str]:
    return [" ".join(lines[i : i + n]) for i in range(0, len(lines), n)]


def _plain_all(engine: Any, english: list[str]) -> list[str]:
    out = []
    for line in english:
        cap = engine.count_tokens(line) * 3 + 24
        out.append(" ".join(_plain(engine, TRANSLATE_PROMPT.format(text=line), cap).split()))
    return out


def _ours(engine: Any, spec: str, english: list[str], args: argparse.Namespace) -> list[str]:
    from dataclasses import replace

    from llmcli.engine import GenerationOptions
    from llmcli.prompts import builtin_dir, parse_template
    from llmcli.tasks.languages import resolve_language
    from llmcli.tasks.translate import Translator

    path, _, penalty = spec.partition(":")
    template = parse_template(Path(path), "file")
    settings = {**template.settings, "stop": tuple(template.settings.get("stop", ()))}
    options = GenerationOptions(**settings)
    if penalty:
        options = replace(options, repeat_penalty=float(penalty))
    lines_template = parse_template(builtin_dir() / "translate-lines.toml", "built-in")
    job = Translator(
        engine,
        template,
        lines_template,
        resolve_language("pt"),
        None,
        options,
        batch=1,
        unit=args.unit,
    )
    return [" ".join("".join(job.document(text)).split()) for text in english]


if __name__ == "__main__":
    main()
