"""A small HTTPS stand-in for Key Vault's secrets REST API (enough for the real SecretClient).

TLS with a throw-away `trustme` CA, the 401 bearer challenge the SDK expects, secrets by name
(`GET /secrets/{name}[/{version}]`, `PUT /secrets/{name}`), 404 `SecretNotFound`, and a fake
App Service managed-identity endpoint (`GET /msi/token`) so `DefaultAzureCredential` itself can
be exercised. Only tokens this server issued (or `accepted_tokens`) are let in.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CHALLENGE = (
    f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
    'resource="https://vault.azure.net"'
)
MSI_HEADER = "test-identity-header"


@dataclass
class VaultState:
    secrets: dict[str, str] = field(default_factory=dict)
    accepted_tokens: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, auth
    lock: threading.Lock = field(default_factory=threading.Lock)


class KeyVaultStandIn:
    def __init__(self, workdir: Path) -> None:
        self.state = VaultState()
        ca = trustme.CA()
        self.ca_path = workdir / "keyvault-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        server_pem = workdir / "keyvault-server.pem"
        leaf.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(server_pem))
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"https://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def msi_endpoint(self) -> str:
        return f"{self.url}/msi/token"

    def set_secret(self, name: str, value: str) -> None:
        with self.state.lock:
            self.state.secrets[name] = value

    def accept_token(self, token: str) -> None:
        with self.state.lock:
            self.state.accepted_tokens.add(token)

    def secret_reads(self) -> list[str]:
        """Names of the secrets successfully requested so far (authorised GETs)."""
        with self.state.lock:
            return [
                p.split("/")[2]
                for m, p, a in self.state.requests
                if m == "GET" and a and p.startswith("/secrets/")
            ]

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    state: VaultState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path == "/msi/token":
            return self._issue_token(url.query)
        auth = self.headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        with self.state.lock:
            authorised = token in self.state.accepted_tokens
            self.state.requests.append((method, url.path, token if authorised else None))
        if not authorised:
            error = {"error": {"code": "Unauthorized", "message": "missing or unknown token"}}
            return self._send(401, error, {"WWW-Authenticate": CHALLENGE})
        parts = [p for p in url.path.split("/") if p]
        if len(parts) in (2, 3) and parts[0] == "secrets":
            return self._secret(method, parts[1], body)
        self._send(404, {"error": {"code": "NotFound", "message": url.path}})

    def _secret(self, method: str, name: str, body: bytes) -> None:
        with self.state.lock:
            if method == "PUT":
                self.state.secrets[name] = json.loads(body)["value"]
            value = self.state.secrets.get(name)
        if value is None:
            message = f"A secret with (name/id) {name} was not found in this key vault."
            return self._send(404, {"error": {"code": "SecretNotFound", "message": message}})
        now = int(time.time())
        self._send(
            200,
            {
                "value": value,
                "id": f"https://{self.headers.get('Host')}/secrets/{name}/{uuid.uuid4().hex}",
                "attributes": {
                    "enabled": True,
                    "created": now,
                    "updated": now,
                    "recoveryLevel": "Recoverable+Purgeable",
                },
                "tags": {},
            },
        )

    def _issue_token(self, query: str) -> None:
        if self.headers.get("X-IDENTITY-HEADER") != MSI_HEADER:
            return self._send(400, {"error": "missing X-IDENTITY-HEADER"})
        token = f"msi-{uuid.uuid4().hex}"
        with self.state.lock:
            self.state.accepted_tokens.add(token)
        resource = parse_qs(query).get("resource", [""])[0]
        self._send(
            200,
            {
                "access_token": token,
                "expires_on": str(int(time.time()) + 3600),
                "resource": resource,
                "token_type": "Bearer",
            },
        )

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
