"""Benchmarks: `python -m bench [SECTION ...]` writes docs/benchmarks.md.

Each section is a module `bench/<name>.py` with `run() -> str` returning a markdown section
(a `## ` heading, the command that reproduces it, figures measured side by side in one run).
"""

SECTIONS = ("startup", "speed", "latency", "sentiment", "quality", "scaling", "prefix_cache")
