"""The shared prompt-template layer: templates are data files, rendered in a Jinja sandbox.

A template declares its variables (defaults, help, choices), its messages as Jinja text, and
its generation settings. Built-ins ship in `builtin/`; a file of the same name in
`<config dir>/templates/` overrides one, and new names add templates.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from llmcli.engine import Message
from llmcli.env import Environment
from llmcli.errors import TemplateError

SUFFIX = ".toml"
_SCALAR = (str, int, float, bool)  # what a variable's default and choices may be


@dataclass(frozen=True)
class Variable:
    name: str
    default: Any = None
    help: str = ""
    required: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    path: Path
    origin: str  # "built-in" | "user" | "file"
    source: str
    variables: Mapping[str, Variable]
    settings: Mapping[str, Any]
    system: str | None
    user: str
    examples: tuple[tuple[str, str], ...] = field(default=())
    schema: Mapping[str, Any] | None = None  # `schema = ...`: the JSON Schema of the reply

    def render(self, values: Mapping[str, Any]) -> list[Message]:
        """Messages for these values; unknown, missing or invalid values are TemplateErrors."""
        context = self.resolve_values(values)
        messages: list[Message] = []
        system = self._render("system", self.system, context) if self.system else ""
        if system:  # an empty system prompt means the model's own default
            messages.append(Message("system", system))
        for i, (user, assistant) in enumerate(self.examples):
            shot_user = self._render(f"examples[{i}].user", user, context)
            shot_answer = self._render(f"examples[{i}].assistant", assistant, context)
            if shot_user and shot_answer:  # an example can opt out (e.g. per target language)
                messages.append(Message("user", shot_user))
                messages.append(Message("assistant", shot_answer))
        messages.append(Message("user", self._render("user", self.user, context)))
        return messages

    def resolve_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(values) - set(self.variables))
        if unknown:
            known = ", ".join(sorted(self.variables)) or "none"
            raise TemplateError(
                f"template {self.name!r} has no parameter {unknown[0]!r} (parameters: {known})"
            )
        context: dict[str, Any] = {}
        for var in self.variables.values():
            value = values.get(var.name, var.default)
            if value is None and var.required:
                raise TemplateError(f"template {self.name!r} needs a value for {var.name!r}")
            if var.choices and value is not None and str(value) not in var.choices:
                raise TemplateError(
                    f"{var.name} must be one of {', '.join(var.choices)}; got {value!r}"
                )
            context[var.name] = value
        return context

    def _render(self, part: str, text: str, context: Mapping[str, Any]) -> str:
        import jinja2

        try:
            rendered: str = _compiled(text).render(**context)
            return rendered.strip()
        except jinja2.UndefinedError as exc:
            raise TemplateError(
                f"{self._where(part, text, None)}: {exc.message} (declare it under [variables])"
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            where = self._where(part, text, exc.lineno)
            raise TemplateError(f"{where}: template syntax error: {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise TemplateError(f"{self._where(part, text, None)}: {exc}") from None

    def _where(self, part: str, text: str, lineno: int | None) -> str:
        """file:line of a Jinja error, mapping the line inside a field to the file's line."""
        first = next((ln for ln in text.splitlines() if ln.strip()), "")
        base = next(
            (i for i, ln in enumerate(self.source.splitlines(), 1) if first and first in ln), 0
        )
        line = base + (lineno - 1 if lineno else 0) if base else 0
        return f"{self.path}:{line} ({part})" if line else f"{self.path} ({part})"


_ENV: Any = None


def _environment() -> Any:
    global _ENV
    if _ENV is None:
        import jinja2
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        _ENV = ImmutableSandboxedEnvironment(
            undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False
        )
    return _ENV


@functools.lru_cache(maxsize=256)
def _compiled(text: str) -> Any:
    """A field's compiled template: Jinja compiles `from_string` afresh each time (~4 ms),
    and translate renders its template once per sentence."""
    return _environment().from_string(text)


def builtin_dir() -> Path:
    return Path(str(resources.files("llmcli.prompts") / "builtin"))


def parse_template(path: Path, origin: str) -> Template:
    try:
        source = path.read_text(encoding="utf-8-sig")  # an editor's BOM is not TOML
        data = tomllib.loads(source)
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TemplateError(f"{path}: template is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{path}: not valid TOML: {exc}") from None
    return _from_data(path, origin, source, data)


def _from_data(path: Path, origin: str, source: str, data: dict[str, Any]) -> Template:
    """Every field checked for its type: a file of the wrong shape is one TemplateError."""
    if not isinstance(data.get("user"), str):
        misplaced = _table_with_key(data, "user")
        hint = (
            f"'user' landed inside [{misplaced}]: put system/user before the first [table]"
            if misplaced
            else None
        )
        raise TemplateError(f"{path}: a template needs a 'user' message (a string)", hint=hint)
    for key in ("name", "description", "system"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise TemplateError(f"{path}: {key!r} must be a string")
    return Template(
        schema=_schema(path, data.get("schema")),
        name=str(data.get("name", path.stem)),
        description=str(data.get("description", "")),
        path=path,
        origin=origin,
        source=source,
        variables=_variables(path, data.get("variables") or {}),
        settings=_settings(path, data.get("settings") or {}),
        system=data.get("system"),
        user=data["user"],
        examples=_examples(path, data.get("examples", [])),
    )


def _schema(path: Path, raw: Any) -> Mapping[str, Any] | None:
    """`schema = ...`: a table (JSON Schema), or a string (JSON, the short form, or a file
    next to the template); checked now, so a broken one is the template's error."""
    if raw is None:
        return None
    from llmcli.structured.schema import checked, load_schema

    origin = f"{path}: schema"
    if isinstance(raw, dict):
        return checked(raw, origin).data
    if not isinstance(raw, str):
        raise TemplateError(f"{origin} must be a string or a table")
    return load_schema(raw, origin, base=path.parent).data


def render_fragment(name: str, part: str, values: Mapping[str, Any]) -> str:
    """Prompt wording kept as data outside any template (`fragments/NAME.toml`), rendered."""
    path = Path(str(resources.files("llmcli.prompts") / "fragments" / f"{name}{SUFFIX}"))
    text = tomllib.loads(path.read_text(encoding="utf-8"))[part]
    rendered: str = _environment().from_string(text).render(**values)
    return rendered.strip()


def _variables(path: Path, table: Any) -> dict[str, Variable]:
    if not isinstance(table, dict):
        raise TemplateError(f"{path}: [variables] must be a table of [variables.NAME] tables")
    variables: dict[str, Variable] = {}
    for name, spec in table.items():
        if not isinstance(spec, dict):
            raise TemplateError(f"{path}: [variables.{name}] must be a table")
        default, choices = spec.get("default"), spec.get("choices", [])
        if default is not None and not isinstance(default, _SCALAR):
            raise TemplateError(f"{path}: [variables.{name}] default must be a string or number")
        if not isinstance(choices, list) or not all(isinstance(c, _SCALAR) for c in choices):
            raise TemplateError(f"{path}: [variables.{name}] choices must be a list of strings")
        variables[name] = Variable(
            name=name,
            default=default,
            help=str(spec.get("help", "")),
            required=bool(spec.get("required", False)),
            choices=tuple(str(c) for c in choices),
        )
    return variables


def _settings(path: Path, table: Any) -> dict[str, Any]:
    from llmcli.prompts.settings import SettingError, check_setting

    if not isinstance(table, dict):
        raise TemplateError(f"{path}: [settings] must be a table")
    try:
        return {key: check_setting(key, value) for key, value in table.items()}
    except SettingError as exc:
        raise TemplateError(f"{path}: [settings] {exc}") from None


def _examples(path: Path, items: Any) -> tuple[tuple[str, str], ...]:
    shape = f"{path}: examples must be [[examples]] tables with user and assistant strings"
    if not isinstance(items, list):
        raise TemplateError(shape)
    pairs = []
    for item in items:
        if not isinstance(item, dict):
            raise TemplateError(shape)
        user, assistant = item.get("user", ""), item.get("assistant", "")
        if not isinstance(user, str) or not isinstance(assistant, str):
            raise TemplateError(shape)
        pairs.append((user, assistant))
    return tuple(pairs)


def _table_with_key(data: Mapping[str, Any], key: str, prefix: str = "") -> str | None:
    """The dotted name of the TOML table a top-level key fell into, if any."""
    for name, value in data.items():
        if isinstance(value, dict):
            dotted = f"{prefix}{name}"
            if key in value:
                return dotted
            found = _table_with_key(value, key, dotted + ".")
            if found:
                return found
    return None


def template_paths(env: Environment) -> dict[str, tuple[Path, str]]:
    """name -> (path, origin); user templates shadow built-ins of the same name."""
    found: dict[str, tuple[Path, str]] = {}
    for path in sorted(builtin_dir().glob(f"*{SUFFIX}")):
        found[path.stem] = (path, "built-in")
    if env.templates_dir.is_dir():
        for path in sorted(env.templates_dir.glob(f"*{SUFFIX}")):
            if path.is_file():  # not a FIFO or a directory named *.toml: reading would block
                found[path.stem] = (path, "user")
    return found


def load_template(name: str, env: Environment) -> Template:
    """A template by name, or by path to a .toml file."""
    if name.endswith(SUFFIX) or "/" in name:
        path = Path(os.path.expanduser(name))  # pathlib raises for ~unknown-user
        try:
            found = path.is_file()
        except OSError:  # a name too long for the system
            found = False
        if not found:
            raise TemplateError(f"template file not found: {name}")
        return parse_template(path, "file")
    paths = template_paths(env)
    if name not in paths:
        import difflib

        close = difflib.get_close_matches(name, list(paths), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see `llm templates list`"
        raise TemplateError(f"unknown template {name!r}", hint=hint)
    return parse_template(*paths[name])


def parse_params(pairs: list[str]) -> dict[str, str]:
    """`-p key=value` pairs."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise TemplateError(f"parameter {pair!r} must look like key=value")
        values[key.strip()] = value
    return values
