"""A stand-in for HashiCorp Vault's transit engine: a real HTTP server speaking the API hvac's transit calls use.

No Vault server runs here. This one keeps versioned AES-256-GCM keys in
memory and answers ``GET /v1/<mount>/keys/<name>``, ``POST .../keys/<name>/rotate``,
``POST /v1/<mount>/encrypt/<name>`` and ``POST /v1/<mount>/decrypt/<name>``
(with ``associated_data``) the way Vault does, ciphertexts ``vault:v<N>:<base64>``.
It checks the ``X-Vault-Token`` header.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class TransitStandIn:
    def __init__(self, token: str, mount: str = "transit") -> None:
        self.token, self.mount = token, mount
        self.keys: dict[str, list[bytes]] = {}
        self.calls: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                return

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _handle(self, method: str) -> None:
                if self.headers.get("X-Vault-Token") != stand_in.token:
                    self._reply(403, {"errors": ["permission denied"]})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                stand_in.calls.append(f"{method} {self.path}")
                status, reply = stand_in.answer(method, self.path, body)
                self._reply(status, reply)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> TransitStandIn:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def create_key(self, name: str) -> None:
        self.keys[name] = [AESGCM.generate_key(bit_length=256)]

    def answer(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parts = path.split("?", maxsplit=1)[0].strip("/").split("/")  # v1, mount, action, name[, rotate]
        if len(parts) < 4 or parts[1] != self.mount or parts[3] not in self.keys:
            return 404, {"errors": ["no handler for route"]}
        action, name = parts[2], parts[3]
        versions = self.keys[name]
        if action == "keys" and len(parts) == 5 and parts[4] == "rotate":
            versions.append(AESGCM.generate_key(bit_length=256))
            return 200, {"data": {"latest_version": len(versions)}}
        if action == "keys":
            return 200, {"data": {"name": name, "latest_version": len(versions), "type": "aes256-gcm96"}}
        aad = base64.b64decode(body.get("associated_data") or "")
        if action == "encrypt":
            nonce = secrets.token_bytes(12)
            sealed = AESGCM(versions[-1]).encrypt(nonce, base64.b64decode(body["plaintext"]), aad)
            text = f"vault:v{len(versions)}:" + base64.b64encode(nonce + sealed).decode()
            return 200, {"data": {"ciphertext": text, "key_version": len(versions)}}
        if action == "decrypt":
            _, version, payload = str(body["ciphertext"]).split(":", 2)
            raw = base64.b64decode(payload)
            try:
                plain = AESGCM(versions[int(version[1:]) - 1]).decrypt(raw[:12], raw[12:], aad)
            except (InvalidTag, IndexError, ValueError):
                return 400, {"errors": ["cipher: message authentication failed"]}
            return 200, {"data": {"plaintext": base64.b64encode(plain).decode()}}
        return 404, {"errors": ["no handler for route"]}
