"""Benchmarks: `python -m bench [SECTION ...]` writes docs/benchmarks.md.

Each section is a module `bench/<name>.py` with `run() -> str` returning a markdown section
(a `## ` heading, the command that reproduces it, figures measured side by side in one run).
`python -m bench` (`make bench`) runs the speed sections, sized to finish in under ten minutes
on a 2-core laptop CPU; `python -m bench quality` (`make bench-quality`) is the task-quality
eval on all of the shared development data (several minutes more) and the quality checks
(`python -m bench checks`: claims about the bundled model's wording that tests/ does not make).
"""

SECTIONS = (
    "startup",
    "speed",
    "latency",
    "sentiment",
    "scaling",
    "prefix_cache",
    "structured",
    "serve",
)
QUALITY = ("quality", "checks", "runaway")
SERVERS = ("remote", "concurrency")  # need llama-server / llama-bench (`make servers`)
OTHER = ("splitting",)  # run by name only: `python -m bench splitting`
ALL = (*SECTIONS, *QUALITY, *SERVERS, *OTHER)
