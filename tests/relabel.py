"""A copy of a GGUF model with another chat template (the `gguf` package's own script), for
tests and the compatibility matrix (`python -m bench models`)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path


def relabel(source: Path, target: Path, template: str) -> Path:
    """Write `target`: `source` with `tokenizer.chat_template` set to `template` (~5 s)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    script = [sys.executable, "-m", "gguf.scripts.gguf_new_metadata", "--force"]
    with tempfile.TemporaryDirectory() as folder:
        template_file = Path(folder) / "chat_template.jinja"
        template_file.write_text(template, encoding="utf-8")
        subprocess.run(
            [*script, "--chat-template-file", str(template_file), str(source), str(tmp)],
            check=True,
            capture_output=True,
        )
    tmp.replace(target)
    return target
