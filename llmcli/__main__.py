from llmcli.cli.main import entry

entry()
