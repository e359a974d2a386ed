"""Whether a model's weights fit this machine's memory, for `llm models quants`."""

from __future__ import annotations

import os
from pathlib import Path

HEADROOM = 512 * 1024**2  # context and runtime buffers on top of the weights


def fits_memory(size: int) -> str:
    """'yes' within free memory, 'tight' within total memory, else 'no'."""
    total, available = _memory()
    need = size + HEADROOM
    if not total:
        return "unknown"
    return "yes" if need <= available else "tight" if need <= total else "no"


def _memory() -> tuple[int, int]:
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
