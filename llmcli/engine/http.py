"""One HTTP conversation with an OpenAI-compatible server: requests, retries, error lines.

Every failure becomes one `LlmError` with the server's URL (never its API key): connection
refused, TLS, timeouts, 401/403 (naming the variable that holds the key), 404, 429/503
(retried with backoff, honouring Retry-After, then reported), 5xx, and a reply that is an
HTML page or other text instead of JSON. httpx is imported here only, and only when a
remote engine opens.
"""

from __future__ import annotations

import email.utils
import sys
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from llmcli.errors import InputError, LlmError, ModelNotFoundError, ServerError

if TYPE_CHECKING:
    import httpx


def load_httpx() -> types.ModuleType:
    """httpx without its command-line module: with click, rich and pygments installed (they
    are, for typer and us) `import httpx` also loads its CLI and them, ~45 ms of every
    remote call (`python -X importtime -c "import httpx"`: 96 ms, of which httpx._main 44)."""
    if "httpx" not in sys.modules:
        cli = types.ModuleType("httpx._main")
        cli.main = _no_cli  # type: ignore[attr-defined]
        sys.modules.setdefault("httpx._main", cli)
    import httpx

    return httpx


def _no_cli(*_: Any, **__: Any) -> None:
    raise SystemExit("httpx's command line is not loaded inside llm")


RETRY_STATUSES = (429, 503)
RETRIES = 4  # attempts after the first one
BACKOFF_S = 0.5  # doubled each retry when the server gives no Retry-After
RETRY_AFTER_MAX_S = 60.0
NOT_THERE = (404, 405, 501)  # a probe of an optional endpoint this server does not have
Sleep = Callable[[float], None]


def redact_url(url: str) -> str:
    """The URL without user:password@ (a key may travel that way)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass
class Server:
    """The client side of one server: base URL, key, retries."""

    base: str  # the server's root, without /v1
    client: httpx.Client
    key_env: str | None = None  # where the key came from, named in auth errors
    api_key: str | None = field(default=None, repr=False)
    sleep: Sleep = time.sleep
    model: str | None = None  # for "unknown model" errors

    @property
    def shown(self) -> str:
        return redact_url(self.base)

    def url(self, path: str) -> str:
        return self.base + path

    def get(self, path: str) -> Any:
        return self._json(self._send("GET", path, None), path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._json(self._send("POST", path, body), path)

    def probe(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any | None:
        """An optional endpoint: its JSON, or None when this server does not have it."""
        response = self._send(method, path, body, optional=True)
        if response is None:
            return None
        try:
            return response.json()
        except ValueError:
            return None  # an HTML page where the endpoint would be: not there either

    @contextmanager
    def stream(self, path: str, body: dict[str, Any]) -> Iterator[httpx.Response]:
        """A streamed POST, retried like the others until its headers arrive."""
        import httpx

        for attempt in range(RETRIES + 1):
            request = self.client.build_request("POST", self.url(path), json=body)
            try:
                response = self.client.send(request, stream=True)
            except httpx.TransportError as exc:
                raise self.transport_error(exc) from None
            try:
                if response.status_code in RETRY_STATUSES and attempt < RETRIES:
                    response.close()
                    self.sleep(retry_delay(response, attempt))
                    continue
                if response.status_code >= 400:
                    response.read()
                    raise self.status_error(response, path)
                yield response
                return
            finally:
                response.close()

    # -- the one place responses become errors --------------------------------------------

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None, *, optional: bool = False
    ) -> httpx.Response | None:
        import httpx

        for attempt in range(RETRIES + 1):
            try:
                response = self.client.request(method, self.url(path), json=body)
            except httpx.TransportError as exc:
                raise self.transport_error(exc) from None
            if response.status_code in RETRY_STATUSES and attempt < RETRIES:
                self.sleep(retry_delay(response, attempt))
                continue
            if optional and response.status_code in NOT_THERE:
                return None
            if response.status_code >= 400:
                raise self.status_error(response, path)
            return response
        raise AssertionError("unreachable")

    def _json(self, response: httpx.Response | None, path: str) -> Any:
        assert response is not None
        try:
            return response.json()
        except ValueError:
            raise self.not_json(response, path) from None

    def not_json(self, response: httpx.Response, path: str) -> ServerError:
        kind = response.headers.get("content-type", "").split(";")[0].strip() or "no type"
        what = "an HTML page" if "html" in kind else f"{kind} text"
        return ServerError(
            f"{self.shown}{path} answered with {what}, not JSON",
            hint="is this the server's API address? (an OpenAI-compatible API answers at /v1)",
        )

    def transport_error(self, exc: httpx.TransportError) -> LlmError:
        import httpx

        text = self._clean(str(exc) or type(exc).__name__)
        if isinstance(exc, httpx.TimeoutException):
            return ServerError(f"{self.shown} did not answer in time ({text})")
        if "CERTIFICATE" in text.upper() or "SSL" in text.upper() or "TLS" in text.upper():
            return ServerError(
                f"TLS error talking to {self.shown}: {text}",
                hint="check the server's certificate; SSL_CERT_FILE can name a CA bundle",
            )
        if isinstance(exc, httpx.ConnectError):
            return ServerError(
                f"cannot connect to {self.shown}: {text}",
                hint="is the server running? (`llm serve` starts one)",
            )
        return ServerError(f"lost the connection to {self.shown}: {text}")

    def status_error(self, response: httpx.Response, path: str) -> LlmError:
        code = response.status_code
        said = self._clean(server_message(response))
        status = f"{code} {response.reason_phrase}".strip()
        where = f"{self.shown}{path}"
        if code in (401, 403):
            var = self.key_env or "LLM_API_KEY"
            had = "refused the API key" if self.api_key else "needs an API key"
            hint = f"set {var} to the server's key"
            return ServerError(f"{where} {had} ({status})", hint=hint, retryable=False)
        if code == 404 and self.model and "model" in said.lower():
            return ModelNotFoundError(
                f"{self.shown} has no model {self.model!r} ({said})",
                hint="`-m ID` picks one of the ids the server lists at /v1/models",
            )
        if code == 404:
            hint = "is this the server's API address?"
            return ServerError(f"{where}: {status}", hint=hint, retryable=False)
        if code in RETRY_STATUSES:
            return ServerError(f"{where} is busy ({status}) after {RETRIES} retries: {said}")
        if code == 400 and "context" in said.lower():
            return InputError(f"the server refused the request: {said}")
        if code < 500:
            return LlmError(f"the server refused the request ({status}): {said}")
        return ServerError(f"{where} failed ({status}): {said}")

    def _clean(self, text: str) -> str:
        """One line, short, and without the key even if a server echoes it."""
        if self.api_key:
            text = text.replace(self.api_key, "***")
        line = " ".join(text.split())
        return line if len(line) <= 200 else line[:197] + "..."


def server_message(response: httpx.Response) -> str:
    """What the server said went wrong: OpenAI's error.message, FastAPI's detail, or text."""
    try:
        data = response.json()
    except ValueError:
        kind = response.headers.get("content-type", "")
        return "an HTML page" if "html" in kind else (response.text[:200] or "no details")
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error:
            return str(error)
    return str(data)[:200]


def retry_delay(response: httpx.Response, attempt: int) -> float:
    """Seconds to wait: the server's Retry-After (seconds or a date), else exponential."""
    value = response.headers.get("retry-after", "").strip()
    if value:
        try:
            return min(max(float(value), 0.0), RETRY_AFTER_MAX_S)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value).timestamp()
            return min(max(when - time.time(), 0.0), RETRY_AFTER_MAX_S)
        except (TypeError, ValueError):
            pass
    return float(BACKOFF_S * 2**attempt)
