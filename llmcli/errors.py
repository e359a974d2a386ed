"""Error hierarchy and exit codes: the one place where failures get a number."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    MODEL_NOT_FOUND = 3
    INPUT_INVALID = 4
    SERVER = 5  # a remote server unreachable, refusing us, or answering nonsense
    INTERRUPTED = 130


class LlmError(Exception):
    """A failure the user can act on: printed as one line, no traceback."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(LlmError):
    exit_code = ExitCode.USAGE


class ConfigError(LlmError):
    exit_code = ExitCode.USAGE


class TemplateError(LlmError):
    """Unknown template, bad parameter, or a template file that does not render."""

    exit_code = ExitCode.USAGE


class ModelNotFoundError(LlmError):
    exit_code = ExitCode.MODEL_NOT_FOUND


class ModelLoadError(LlmError):
    """The file exists but is not a usable model (bad GGUF, llama.cpp refused it)."""

    exit_code = ExitCode.MODEL_NOT_FOUND


class ChatTemplateError(LlmError):
    """The model's chat template (or --chat-template) does not compile, raises, or runs past
    its render budget: exit 3, like a model that cannot be used."""

    exit_code = ExitCode.MODEL_NOT_FOUND


class InputError(LlmError):
    exit_code = ExitCode.INPUT_INVALID


class ContextOverflowError(InputError):
    """Input that does not fit the context window and cannot be chunked."""

    def __init__(self, tokens: int, limit: int, *, what: str = "input", hint: str | None = None):
        super().__init__(
            f"{what} is {tokens:,} tokens but only {limit:,} fit in the context window",
            hint=hint or "raise --ctx (if the model allows) or shorten the input",
        )
        self.tokens = tokens
        self.limit = limit


class DownloadError(LlmError):
    exit_code = ExitCode.ERROR


class Interrupted(LlmError):
    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str = "interrupted") -> None:
        super().__init__(message)


class ServerError(LlmError):
    """A remote server that cannot be reached (refused, TLS, timeout), refuses the request
    (401/403, 429/503 after retries, 5xx) or answers something that is not its API.
    `retryable` False: another try cannot help (a missing key, a wrong address), so a
    fan-out stops at once instead of retrying and taking the server out."""

    exit_code = ExitCode.SERVER

    def __init__(self, message: str, *, hint: str | None = None, retryable: bool = True) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


class StreamBrokenError(LlmError):
    """The server went away in the middle of a reply; the text so far was already shown."""

    exit_code = ExitCode.ERROR

    def __init__(self, message: str, *, partial: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.partial = partial
