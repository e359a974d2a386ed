"""Reasoning models: which ones think, and the stream transform that sets their thinking apart.

Detection (`detect`): the chat template writes a thinking marker (`<think>`, gpt-oss's
`<|channel|>analysis`, ...) or takes `enable_thinking`; or the vocabulary has the marker as a
token. Splitting (`split`): raw text chunks become `Chunk(text, reasoning=True)` for the
thinking and plain chunks for the answer, with markers split across chunks held back, an
unclosed block at the end kept as thinking, and a block the prompt already opened (DeepSeek-R1
distills, Qwen3 modes) picked up from the prompt's tail. `answer_suffix` is the text that
makes a reply start after a closed block (scoring labels, `think=False` on templates that have
no switch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from llmcli.engine import Chunk, Stats, StreamEvent

HARMONY_MARKERS = ("<|channel|>", "<|message|>", "<|start|>", "<|end|>", "<|return|>", "<|call|>")
_HARMONY_BREAKS = ("<|end|>", "<|start|>", "<|return|>", "<|call|>")


@dataclass(frozen=True)
class ThinkFormat:
    """How a model marks its thinking: a tag pair, or gpt-oss's channels ("harmony")."""

    name: str
    open: str
    close: str
    switch: bool = False  # the template takes enable_thinking
    source: str = "template"  # or "vocabulary"

    @property
    def harmony(self) -> bool:
        return self.name == "gpt-oss"

    @property
    def markers(self) -> tuple[str, ...]:
        """Texts the engine must render even when they are special tokens."""
        return HARMONY_MARKERS if self.harmony else (self.open, self.close)

    def describe(self) -> str:
        switch = ", enable_thinking" if self.switch else ""
        return f"{self.open}…{self.close} (from the {self.source}{switch})"


TAGS = (
    ThinkFormat("think", "<think>", "</think>"),
    ThinkFormat("seed", "<seed:think>", "</seed:think>"),
    ThinkFormat("mistral", "[THINK]", "[/THINK]"),
    ThinkFormat("gemma4", "<|channel>thought", "<channel|>"),
    ThinkFormat("thinking", "<thinking>", "</thinking>"),
)
HARMONY = ThinkFormat("gpt-oss", "<|channel|>analysis<|message|>", "<|end|>")


def detect(template: str | None, has_token: Callable[[str], bool]) -> ThinkFormat | None:
    """The model's thinking format, or None for a model that does not think."""
    from dataclasses import replace

    source = template or ""
    switch = "enable_thinking" in source
    if "<|channel|>" in source and "analysis" in source:
        return replace(HARMONY, switch=switch)
    for fmt in TAGS:
        if fmt.open in source:
            return replace(fmt, switch=switch)
    for fmt in TAGS:
        if has_token(fmt.open):
            return replace(fmt, switch=switch, source="vocabulary")
    return replace(TAGS[0], switch=True) if switch else None


# -- the prompt side ----------------------------------------------------------------------


def prompt_state(fmt: ThinkFormat, prompt_tail: str) -> str:
    """Where the prompt leaves the reply: "start", "think" (a block opened and not closed),
    "answer" (a block closed: the reply is the answer), or for gpt-oss "header"/"final"."""
    if fmt.harmony:
        turn = prompt_tail.rsplit("<|start|>", 1)[-1]
        if "<|message|>" in turn and "<|channel|>" in turn:
            channel = turn.rsplit("<|channel|>", 1)[-1].split("<|message|>", 1)[0]
            return "final" if _channel(channel) == "final" else "think"
        return "header"
    opened, closed = prompt_tail.rfind(fmt.open), prompt_tail.rfind(fmt.close)
    if opened > closed and not prompt_tail[opened + len(fmt.open) :].strip():
        return "think"
    if closed >= 0 and not prompt_tail[closed + len(fmt.close) :].strip():
        return "answer"
    return "start"


def answer_suffix(fmt: ThinkFormat, prompt_tail: str) -> str:
    """What to append to the prompt so the reply starts after a closed thinking block."""
    state = prompt_state(fmt, prompt_tail)
    if fmt.harmony:
        final = "<|channel|>final<|message|>"
        return {"header": final, "think": f"<|end|><|start|>assistant{final}"}.get(state, "")
    if state == "think":
        return f"\n{fmt.close}\n\n"
    # An empty block only where the template writes blocks: a model known only from its
    # vocabulary may never think, and a block it never saw in training would confuse it.
    empty = state == "start" and fmt.source == "template"
    return f"{fmt.open}\n\n{fmt.close}\n\n" if empty else ""


# -- the stream side ----------------------------------------------------------------------


def split(
    events: Iterator[StreamEvent], fmt: ThinkFormat, state: str = "start"
) -> Iterator[StreamEvent]:
    """Raw chunks -> thinking chunks (reasoning=True) and answer chunks."""
    splitter: _Splitter = _Harmony(state) if fmt.harmony else _Tags(fmt, state)
    try:
        for event in events:
            if isinstance(event, Stats):
                yield from splitter.flush()
                yield event
                return
            yield from splitter.feed(event.text)
    finally:
        close = getattr(events, "close", None)
        if callable(close):
            close()


class _Splitter:
    def __init__(self) -> None:
        self.pending = ""
        self.out: list[Chunk] = []

    def feed(self, text: str) -> list[Chunk]:
        self.pending += text
        self.scan()
        out, self.out = self.out, []
        return out

    def flush(self) -> list[Chunk]:
        self.scan(final=True)
        out, self.out = self.out, []
        return out

    def scan(self, final: bool = False) -> None:
        raise NotImplementedError

    def take(self, markers: tuple[str, ...], final: bool) -> tuple[str, str | None]:
        """(text before the first marker, that marker) off `pending`; without a marker, the
        text that cannot be the start of one (all of it when final)."""
        found = [(at, m) for m in markers if (at := self.pending.find(m)) >= 0]
        if found:
            at, marker = min(found)
            text, self.pending = self.pending[:at], self.pending[at + len(marker) :]
            return text, marker
        keep = 0 if final else max(_overlap(self.pending, m) for m in markers)
        text, self.pending = (
            self.pending[: len(self.pending) - keep],
            self.pending[len(self.pending) - keep :],
        )
        return text, None

    def emit(self, text: str, reasoning: bool) -> None:
        if text:
            self.out.append(Chunk(text, reasoning))


class _Tags(_Splitter):
    """`<think>…</think>` and the like: one block, at the start of the reply."""

    def __init__(self, fmt: ThinkFormat, state: str) -> None:
        super().__init__()
        self.fmt = fmt
        # a prompt that closed the block still lets the model open one of its own
        self.state = "think" if state == "think" else "start"
        self.lead = True  # strip whitespace at the start of the block and of the answer
        self.held = ""  # thinking's trailing whitespace, dropped if the block closes next

    def scan(self, final: bool = False) -> None:
        while self.pending:
            if self.state == "start":
                body = self.pending.lstrip()
                if not body:
                    return
                if body.startswith(self.fmt.open):
                    self.pending, self.state = body[len(self.fmt.open) :], "think"
                elif self.fmt.open.startswith(body) and not final:
                    return  # may be the marker, split across chunks
                else:
                    self.state = "answer"
            elif self.state == "think":
                text, marker = self.take((self.fmt.close, self.fmt.open), final)
                if marker == self.fmt.open:  # the prompt opened it and the model again
                    self.think(text, closing=False)
                    continue
                self.think(text, closing=marker is not None)
                if marker is None:
                    return
                self.state, self.lead, self.held = "answer", True, ""
            else:
                if self.lead:
                    found = self._stray_marker(final)
                    if found == "dropped":
                        continue
                    if found == "wait":
                        return
                text, self.pending = self.pending, ""
                if self.lead:
                    text = text.lstrip()
                    self.lead = not text
                self.emit(text, False)

    def _stray_marker(self, final: bool) -> str:
        """A marker where the answer starts is not text (a block the prompt closed, closed
        again; small models write stray ones): "dropped". Later in the answer it is text.
        "wait": what came so far may be the start of one."""
        body = self.pending.lstrip()
        if not body and not final:
            return "wait"
        for marker in (self.fmt.open, self.fmt.close):
            if body.startswith(marker):
                self.pending = body[len(marker) :]
                return "dropped"
            if marker.startswith(body) and not final:
                return "wait"
        return "text"
        return False

    def think(self, text: str, closing: bool) -> None:
        text = self.held + text
        if self.lead:
            text = text.lstrip()
            self.lead = not text
        body = text.rstrip()
        self.held = "" if closing else text[len(body) :]
        self.emit(body, True)


class _Harmony(_Splitter):
    """gpt-oss: `<|channel|>NAME<|message|>BODY<|end|>`; the final channel is the answer."""

    def __init__(self, state: str) -> None:
        super().__init__()
        self.state = state  # header | name | think | final
        self.channel = ""
        self.head = ""
        self.fresh = state == "header"  # nothing generated yet

    def scan(self, final: bool = False) -> None:
        while self.pending:
            if self.state == "header" and self.fresh:
                body = self.pending.lstrip()
                if not body:
                    return
                if "<|channel|>".startswith(body) and body != "<|channel|>" and not final:
                    return  # may be the header, split across chunks
                if "<|message|>".startswith(body) and body != "<|message|>" and not final:
                    return
                self.fresh = False
                if body.startswith("<|message|>"):  # a message with no channel: the answer
                    self.pending, self.state = body[len("<|message|>") :], "final"
                    continue
                if not body.startswith("<|channel|>"):
                    self.state = "final"  # a model that writes no channel header
                    continue
            if self.state == "header":
                text, marker = self.take(("<|channel|>",), final)
                self.head += text
                if marker is None:
                    if final:
                        self._head_text()
                    return
                self._head_text()
                self.state, self.channel, self.fresh = "name", "", False
            elif self.state == "name":
                text, marker = self.take(("<|message|>",), final)
                self.channel += text
                if marker is None:
                    return
                self.state = "final" if _channel(self.channel) == "final" else "think"
            else:
                text, marker = self.take(("<|channel|>", "<|message|>", *_HARMONY_BREAKS), final)
                self.emit(text, self.state == "think")
                self.fresh = False
                if marker is None:
                    return
                if marker == "<|message|>":  # a stray header marker inside a message
                    continue
                self.state = "name" if marker == "<|channel|>" else "header"
                self.channel = ""

    def _head_text(self) -> None:
        """A header is a role name; anything else between turns is text: keep it."""
        head, self.head = self.head, ""
        for marker in HARMONY_MARKERS:
            head = head.replace(marker, "")
        head = head.strip()
        if head and head != "assistant":
            self.emit(head, False)


def _channel(name: str) -> str:
    return name.strip().split(" ", 1)[0].split("<", 1)[0]


def _overlap(text: str, marker: str) -> int:
    """Length of the longest suffix of text that is a prefix of marker."""
    for n in range(min(len(text), len(marker) - 1), 0, -1):
        if text.endswith(marker[:n]):
            return n
    return 0
