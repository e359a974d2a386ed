"""The Jinja environment chat templates expect (transformers' `render_jinja_template`), bounded.

Same as transformers: ImmutableSandboxedEnvironment with trim_blocks/lstrip_blocks, loop
controls, the `{% generation %}` tag (a pass-through here), `raise_exception`, `strftime_now`,
its `tojson` (no HTML escaping) and its guarded `dict`/`namespace`.

Added: a render budget. A template is code from a model file: it must not hang a run or eat
the memory. Time is bounded by a line tracer on template frames only (loops with no calls in
them included); size by checking, before they run, the operations that can build a large
value in one C call (`*`, `**`, `+`, `%`, `lipsum`, padding filters and string methods), and
by counting the output as it is generated.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.parser
import jinja2.utils
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llmcli.errors import ChatTemplateError

TIME_LIMIT_S = 2.0  # a real template renders in milliseconds
MIN_CHARS = 1 << 20  # output (and any one value) may be this large, or 4x the input
MAX_ITEMS = 1 << 20  # elements of one list built by `*` / `+`
MAX_INT_BITS = 1 << 16  # integers past this take seconds in one C call
_TEMPLATE_FILE = "<template>"  # co_filename of code compiled by `from_string`
_BIG_WIDTH = re.compile(r"\d{7,}")  # a format width of a million or more


class RenderLimit(ChatTemplateError):
    """The render ran past its budget."""


@dataclass
class Budget:
    time_s: float = TIME_LIMIT_S
    max_chars: int = MIN_CHARS
    deadline: float = field(default=float("inf"), init=False)  # set by bounded_render
    lines: int = field(default=0, init=False)

    def check_size(self, n: int, what: str) -> None:
        if n > self.max_chars:
            raise RenderLimit(
                f"chat template builds {what} of {n:,} characters (limit {self.max_chars:,})"
            )

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderLimit(f"chat template ran past {self.time_s:g} s")


_budget: ContextVar[Budget | None] = ContextVar("chat_template_budget", default=None)


def _current() -> Budget:
    return _budget.get() or Budget()


class _GenerationTag(jinja2.ext.Extension):
    """transformers' `{% generation %}…{% endgeneration %}` (assistant masks): renders its body."""

    tags = {"generation"}  # noqa: RUF012  (jinja's own attribute)

    def parse(self, parser: jinja2.parser.Parser) -> list[jinja2.nodes.Node]:
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(
    x: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    return json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class _TemplateDict:
    """`dict(...)` without attribute access to the type (as transformers guards it)."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict.fromkeys(*args, **kwargs)


class _TemplateNamespace(jinja2.utils.Namespace):
    """`namespace(...)` refusing underscore names (CPython internals), as transformers does."""

    def __init__(*args: Any, **kwargs: Any) -> None:
        self, rest = args[0], args[1:]
        attrs = dict(*rest, **kwargs)
        for name in attrs:
            _check_name(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        _check_name(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)


def _check_name(name: Any) -> None:
    if isinstance(name, str) and name.startswith("_"):
        raise jinja2.exceptions.SecurityError(f"namespace attribute {name!r} is not allowed")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple)) else 0


def _product_size(left: Any, right: Any) -> int:
    for seq, n in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
            return len(seq) * max(n, 0)
    return 0


def _int_bits(operator: str, left: Any, right: Any) -> int:
    if not (isinstance(left, int) and isinstance(right, int)):
        return 0
    if operator == "*":
        return left.bit_length() + right.bit_length()
    return max(right, 0) * max(left.bit_length(), 1)


def _str_method_size(obj: Any, args: tuple[Any, ...]) -> int:
    """The length a str method would return, computed before it runs (0: not an amplifier)."""
    s: str = obj.__self__
    name: str = obj.__name__
    ints = [a for a in args if isinstance(a, int)]
    if name in ("center", "ljust", "rjust", "zfill") and ints:
        return max(ints[0], len(s))
    if name == "expandtabs":
        return len(s) + s.count("\t") * (ints[0] if ints else 8)
    if name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
        old, new = args[0], args[1]
        hits = s.count(old) if old else len(s) + 1
        return len(s) + hits * max(len(new) - len(old), 0)
    return 0


class ChatEnvironment(ImmutableSandboxedEnvironment):
    """transformers' chat-template environment with size checks on the amplifying operations."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[_GenerationTag, jinja2.ext.loopcontrols],
        )
        self.filters["tojson"] = _tojson
        self.globals["raise_exception"] = _raise_exception
        self.globals["strftime_now"] = _strftime_now
        self.globals["dict"] = _TemplateDict()
        self.globals["namespace"] = _TemplateNamespace
        self.globals["lipsum"] = _bounded_lipsum
        for name in ("center", "indent", "replace", "join", "format", "wordwrap"):
            self.filters[name] = _bounded_filter(name, self.filters[name])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = _current()
        if operator in ("*", "**") and _int_bits(operator, left, right) > MAX_INT_BITS:
            raise RenderLimit(f"chat template computes a number too large ({operator})")
        if operator == "*":
            n = _product_size(left, right)
            limit = budget.max_chars if isinstance(left, str) or isinstance(right, str) else 0
            if limit:
                budget.check_size(n, "a string")
            elif n > MAX_ITEMS:
                raise RenderLimit(f"chat template builds a list of {n:,} items")
        elif operator == "+" and isinstance(left, str) and isinstance(right, str):
            budget.check_size(len(left) + len(right), "a string")
        elif operator == "%" and isinstance(left, str) and _BIG_WIDTH.search(left):
            raise RenderLimit("chat template formats with a width of a million or more")
        return super().call_binop(context, operator, left, right)

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _current()
        budget.check_time()
        if isinstance(getattr(__obj, "__self__", None), str):
            if __obj.__name__ == "format" and _BIG_WIDTH.search(__obj.__self__):
                raise RenderLimit("chat template formats with a width of a million or more")
            if __obj.__name__ == "join" and args:
                items = list(args[0])
                budget.check_size(sum(_size(x) for x in items), "a string")
                args = (items, *args[1:])
            budget.check_size(_str_method_size(__obj, args), "a string")
        return super().call(__context, __obj, *args, **kwargs)


def _bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:
    if n * max > 100_000:
        raise RenderLimit(f"chat template asks lipsum for {n:,} paragraphs of {max:,} words")
    return jinja2.utils.generate_lorem_ipsum(n=n, html=html, min=min, max=max)


def _bounded_filter(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """A filter whose result size is checked before it is built."""

    passes = hasattr(original, "jinja_pass_arg")  # its first argument is jinja's, not ours

    def run(*args: Any, **kwargs: Any) -> Any:
        budget = _current()
        values = list(args[1:] if passes else args)
        ints = [a for a in [*values[1:], *kwargs.values()] if isinstance(a, int)]
        subject = values[0] if values else ""
        text = str(subject) if not isinstance(subject, (list, tuple)) else ""
        if name in ("center", "indent", "wordwrap") and ints:
            budget.check_size(len(text) + max(ints) * (text.count("\n") + 1), "a string")
        elif name == "replace" and len(values) >= 3:
            budget.check_size(_str_method_size(text.replace, tuple(values[1:3])), "a string")
        elif name == "format" and _BIG_WIDTH.search(text):
            raise RenderLimit("chat template formats with a width of a million or more")
        elif name == "join" and isinstance(subject, (list, tuple)):
            budget.check_size(sum(len(str(x)) for x in subject), "a string")
        return original(*args, **kwargs)

    if passes:
        run.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return run


def bounded_render(template: jinja2.Template, budget: Budget, **context: Any) -> str:
    """Render within the budget: output size counted as it streams, time by a line tracer."""
    budget.deadline = time.monotonic() + budget.time_s
    token = _budget.set(budget)
    previous = sys.gettrace()
    sys.settrace(_tracer(budget))
    try:
        return "".join(_counted(template.generate(**context), budget))
    finally:
        sys.settrace(previous)
        _budget.reset(token)


def _counted(chunks: Iterator[str], budget: Budget) -> Iterator[str]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        budget.check_size(total, "a prompt")
        yield chunk


def _tracer(budget: Budget) -> Any:
    """A trace function that follows only the template's own frames, checking the clock."""

    def local(frame: Any, event: str, arg: Any) -> Any:
        budget.lines += 1
        if budget.lines & 255 == 0:
            budget.check_time()
        return local

    def outer(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == _TEMPLATE_FILE else None

    return outer
