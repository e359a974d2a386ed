"""A copy of a GGUF model with another chat template (the `gguf` package's own script), for
tests and the compatibility matrix (`python -m bench models`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def relabel(source: Path, target: Path, template: str) -> Path:
    """Write `target`: `source` with `tokenizer.chat_template` set to `template` (~5 s)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    template_file = target.with_suffix(".jinja")
    template_file.write_text(template, encoding="utf-8")
    tmp = target.with_name(target.name + ".tmp")
    script = [sys.executable, "-m", "gguf.scripts.gguf_new_metadata", "--force"]
    subprocess.run(
        [*script, "--chat-template-file", str(template_file), str(source), str(tmp)],
        check=True,
        capture_output=True,
    )
    tmp.replace(target)
    return target
