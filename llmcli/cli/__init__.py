"""Command-line layer: one module per command group, each thin (options -> core -> render)."""
