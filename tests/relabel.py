"""A copy of a GGUF model with another chat template (the `gguf` package's own script), for
tests and the compatibility matrix (`python -m bench models`)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path


def relabel(
    source: Path, target: Path, template: str, named: Mapping[str, str] | None = None
) -> Path:
    """Write `target`: `source` with `tokenizer.chat_template` set to `template` (~5 s), and
    `named` ones as `tokenizer.chat_template.NAME`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    script = [sys.executable, "-m", "gguf.scripts.gguf_new_metadata", "--force"]
    with tempfile.TemporaryDirectory() as folder:
        template_file = Path(folder) / "chat_template.jinja"
        template_file.write_text(template, encoding="utf-8")
        given = ["--chat-template-file", str(template_file)]
        if named:
            choices = [{"name": "default", "template": template}]
            choices += [{"name": n, "template": t} for n, t in named.items()]
            given = ["--chat-template", json.dumps(choices)]
        subprocess.run(
            [*script, *given, str(source), str(tmp)],
            check=True,
            capture_output=True,
        )
    tmp.replace(target)
    return target
