"""llmcli: local large language models on the command line."""

__version__ = "0.1.0"
