"""Servers that are not what --endpoint expects, on real sockets: a TLS certificate the
client cannot verify, and a web page where the API should be. No model needed."""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import RunLlm


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>Please log in</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve(server: http.server.HTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if isinstance(server.socket, ssl.SSLSocket) else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def html_server() -> Iterator[str]:
    yield from _serve(http.server.HTTPServer(("127.0.0.1", 0), _Page))


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (it makes the test certificate)")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    make = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    make += ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
    make += ["-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(make, check=True, capture_output=True)
    server = http.server.HTTPServer(("127.0.0.1", 0), _Page)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for url in _serve(server):
        yield url, cert


def test_an_unverifiable_certificate_is_one_tls_line_and_ssl_cert_file_trusts_it(
    run_llm: RunLlm, cli_env: dict[str, str], self_signed_server: tuple[str, Path]
) -> None:
    url, cert = self_signed_server
    result = run_llm("run", "--endpoint", url, "hi")
    assert result.returncode == 5, result.stderr
    [line] = result.stderr.splitlines()
    assert "TLS error talking to https://127.0.0.1" in line and "SSL_CERT_FILE" in line
    cli_env["SSL_CERT_FILE"] = str(cert)  # as the hint says: now TLS passes
    result = run_llm("run", "--endpoint", url, "hi")
    assert result.returncode == 5 and "HTML page" in result.stderr, result.stderr


def test_a_web_page_instead_of_the_api(run_llm: RunLlm, html_server: str) -> None:
    result = run_llm("run", "--endpoint", html_server, "hi")
    assert result.returncode == 5, result.stderr
    [line] = result.stderr.splitlines()
    assert "/v1/models answered with an HTML page, not JSON" in line
