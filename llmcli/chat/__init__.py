"""`llm chat`: the conversation (session.py), its files (store.py), a turn against the engine
(turn.py), slash commands (commands.py) and the prompt_toolkit front end (repl.py)."""
