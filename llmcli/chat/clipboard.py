"""/copy: the system clipboard tool when there is one, else the terminal's OSC 52."""

from __future__ import annotations

import base64
import shutil
import subprocess

from llmcli.env import Environment

# (program, arguments, variable that must be set for it to work, or "")
_TOOLS = (
    ("pbcopy", (), ""),
    ("wl-copy", (), "WAYLAND_DISPLAY"),
    ("xclip", ("-selection", "clipboard"), "DISPLAY"),
    ("xsel", ("--clipboard", "--input"), "DISPLAY"),
    ("clip.exe", (), ""),
)


def copy(text: str, env: Environment) -> str:
    """Copy text; returns a line saying how (or why it could not)."""
    for program, args, needs in _TOOLS:
        path = shutil.which(program)
        if path is None or (needs and not env.environ.get(needs)):
            continue
        try:
            subprocess.run(
                [path, *args], input=text.encode("utf-8"), check=True, timeout=5, close_fds=True
            )
        except (OSError, subprocess.SubprocessError):
            continue
        return f"copied {len(text):,} characters ({program})"
    if env.stdout_isatty:
        # OSC 52 asks the terminal itself (works over ssh; tmux needs set-clipboard on).
        data = base64.b64encode(text.encode("utf-8")).decode("ascii")
        env.stdout.write(f"\x1b]52;c;{data}\x07")
        env.stdout.flush()
        return f"sent {len(text):,} characters to the terminal's clipboard (OSC 52)"
    return "no clipboard here (no pbcopy, wl-copy, xclip or xsel, and not a terminal)"
