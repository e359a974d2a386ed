"""Structured output: JSON Schemas given on the command line or in a template, the short
form for the common case, the checks before a run and the validation of a reply.

`shortform` turns `'name, age int, tags list'` into a JSON Schema; `schema` reads S (inline
JSON, a file, or the short form), refuses what the grammar cannot enforce or nothing can
satisfy, and validates replies with `jsonschema` (imported only when a reply is checked).
The grammar itself is the engine's business (`engine/grammar.py`).
"""
