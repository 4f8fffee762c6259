"""A stand-in for the Confluent Schema Registry: a real HTTP server speaking the REST calls Sluice's clients make.

confluent-kafka's ``SchemaRegistryClient``, its serializers and Sluice's
decoder talk to it as to the real registry:

- ``POST /subjects/{subject}/versions``: register a schema; the same schema
  (type, text and references) keeps one id across subjects, and registering
  it again in a subject returns its version there.
- ``POST /subjects/{subject}``: look a schema up in a subject.
- ``GET /schemas/ids/{id}`` (``?subject=``, ``?format=`` accepted),
  ``GET /schemas/ids/{id}/versions``.
- ``GET /subjects``, ``GET /subjects/{subject}/versions``,
  ``GET /subjects/{subject}/versions/{version|latest}`` (and ``/schema``).
- ``GET``/``PUT /config`` and ``/config/{subject}``: the compatibility level,
  stored and returned. The stand-in does not check compatibility: every
  registration is accepted.
- ``GET /associations/resources/{namespace}/{topic}``: always empty, so the
  serializers' default subject strategy falls back to ``<topic>-value``.

Errors carry the registry's codes (40401 subject, 40402 version, 40403
schema not found). A schema is returned as it was registered: the registry's
format conversions (``?format=serialized`` of a Protobuf schema given as
``.proto`` text) are not done; confluent-kafka's Protobuf serializer
registers the serialized form, so its clients get what they expect.

A test can require HTTP basic auth, stall every answer (a registry that
hangs), fail every answer with a status (``failing = 503``), stop the server
(a registry that is down) and count the requests.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True)
class Registered:
    id: int
    schema: str
    schema_type: str  # AVRO, PROTOBUF or JSON
    references: tuple[tuple[str, str, int], ...] = ()  # (name, subject, version)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": self.schema}
        if self.schema_type != "AVRO":
            out["schemaType"] = self.schema_type
        if self.references:
            out["references"] = [{"name": n, "subject": s, "version": v} for n, s, v in self.references]
        return out


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]


class NotFound(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class RegistryState:
    """The schemas by id, each subject's versions (ids in order) and the compatibility levels."""

    by_id: dict[int, Registered] = field(default_factory=dict)
    subjects: dict[str, list[int]] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=lambda: {"": "BACKWARD"})

    def register(self, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        wanted = _registered_of(body, 0)
        known = next((r for r in self.by_id.values() if _same(r, wanted)), None)
        if known is None:
            known = Registered(len(self.by_id) + 1, wanted.schema, wanted.schema_type, wanted.references)
            self.by_id[known.id] = known
        versions = self.subjects.setdefault(subject, [])
        if known.id not in versions:
            versions.append(known.id)
        return {"id": known.id, "subject": subject, "version": versions.index(known.id) + 1, **known.body()}

    def lookup(self, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        versions = self._versions(subject)
        wanted = _registered_of(body, 0)
        for number, schema_id in enumerate(versions, start=1):
            if _same(self.by_id[schema_id], wanted):
                return {"id": schema_id, "subject": subject, "version": number, **self.by_id[schema_id].body()}
        raise NotFound(40403, f"Schema not found in subject {subject!r}")

    def schema(self, schema_id: int) -> Registered:
        if schema_id not in self.by_id:
            raise NotFound(40403, f"Schema {schema_id} not found")
        return self.by_id[schema_id]

    def version(self, subject: str, version: str) -> dict[str, Any]:
        versions = self._versions(subject)
        number = len(versions) if version in ("latest", "-1") else int(version)
        if not 1 <= number <= len(versions):
            raise NotFound(40402, f"Version {version} not found.")
        schema_id = versions[number - 1]
        return {"id": schema_id, "subject": subject, "version": number, **self.by_id[schema_id].body()}

    def _versions(self, subject: str) -> list[int]:
        if subject not in self.subjects:
            raise NotFound(40401, f"Subject '{subject}' not found.")
        return self.subjects[subject]


def _registered_of(body: dict[str, Any], schema_id: int) -> Registered:
    refs = tuple((r["name"], r["subject"], int(r["version"])) for r in body.get("references") or [])
    return Registered(schema_id, body["schema"], body.get("schemaType") or "AVRO", refs)


def _same(a: Registered, b: Registered) -> bool:
    return (a.schema, a.schema_type, a.references) == (b.schema, b.schema_type, b.references)


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"/schemas/ids/(\d+)"), "schema_by_id"),
    ("GET", re.compile(r"/schemas/ids/(\d+)/versions"), "versions_of_id"),
    ("GET", re.compile(r"/subjects"), "list_subjects"),
    ("GET", re.compile(r"/subjects/([^/]+)/versions"), "list_versions"),
    ("GET", re.compile(r"/subjects/([^/]+)/versions/(latest|-?\d+)"), "get_version"),
    ("GET", re.compile(r"/subjects/([^/]+)/versions/(latest|-?\d+)/schema"), "get_version_schema"),
    ("POST", re.compile(r"/subjects/([^/]+)/versions"), "register"),
    ("POST", re.compile(r"/subjects/([^/]+)"), "lookup"),
    ("GET", re.compile(r"/associations/resources/([^/]+)/([^/]+)"), "associations"),
    ("GET", re.compile(r"/config"), "get_config"),
    ("GET", re.compile(r"/config/([^/]+)"), "get_config"),
    ("PUT", re.compile(r"/config"), "put_config"),
    ("PUT", re.compile(r"/config/([^/]+)"), "put_config"),
]


class SchemaRegistryStandIn:
    """A threaded Schema Registry on 127.0.0.1; stoppable and restartable on the same port with its schemas."""

    def __init__(self, *, basic_auth: tuple[str, str] | None = None) -> None:
        self.state = RegistryState()
        self.basic_auth = basic_auth
        self.stall_seconds = 0.0
        self.failing: int | None = None  # answer every request with this status (a registry in trouble)
        self.seen: list[Seen] = []
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SchemaRegistryStandIn:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def requests(self, method: str | None = None, prefix: str = "") -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if (method is None or s.method == method) and s.path.startswith(prefix)]

    def answer(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        with self._lock:
            self.seen.append(Seen(method, unquote(path), parse_qs(parts.query)))
        if self.stall_seconds:
            time.sleep(self.stall_seconds)
        if self.failing is not None:
            return self.failing, {"error_code": self.failing * 100 + 1, "message": "stand-in failing on purpose"}
        if self.basic_auth is not None and not _authorized(headers, self.basic_auth):
            return 401, {"error_code": 401, "message": "Unauthorized"}
        for verb, pattern, name in _ROUTES:
            found = pattern.fullmatch(path)
            if verb == method and found:
                body = json.loads(raw) if raw else {}
                try:
                    with self._lock:
                        return 200, getattr(self, f"_{name}")(*map(unquote, found.groups()), body=body)
                except NotFound as exc:
                    return 404, {"error_code": exc.code, "message": exc.message}
        return 404, {"error_code": 404, "message": f"HTTP 404 Not Found: {method} {path}"}

    def _schema_by_id(self, schema_id: str, *, body: Any) -> dict[str, Any]:
        return self.state.schema(int(schema_id)).body()

    def _versions_of_id(self, schema_id: str, *, body: Any) -> list[dict[str, Any]]:
        wanted = self.state.schema(int(schema_id)).id
        return [
            {"subject": s, "version": n}
            for s, ids in self.state.subjects.items()
            for n, i in enumerate(ids, start=1)
            if i == wanted
        ]

    def _list_subjects(self, *, body: Any) -> list[str]:
        return sorted(self.state.subjects)

    def _list_versions(self, subject: str, *, body: Any) -> list[int]:
        return list(range(1, len(self.state._versions(subject)) + 1))

    def _get_version(self, subject: str, version: str, *, body: Any) -> dict[str, Any]:
        return self.state.version(subject, version)

    def _get_version_schema(self, subject: str, version: str, *, body: Any) -> Any:
        return json.loads(self.state.version(subject, version)["schema"])

    def _register(self, subject: str, *, body: Any) -> dict[str, Any]:
        return self.state.register(subject, body)

    def _lookup(self, subject: str, *, body: Any) -> dict[str, Any]:
        return self.state.lookup(subject, body)

    def _associations(self, namespace: str, resource: str, *, body: Any) -> list[Any]:
        return []  # no subject is associated with a topic: the clients fall back to TopicNameStrategy

    def _get_config(self, subject: str = "", *, body: Any) -> dict[str, Any]:
        level = self.state.config.get(subject) or self.state.config[""]
        return {"compatibilityLevel": level}

    def _put_config(self, subject: str = "", *, body: Any) -> dict[str, Any]:
        self.state.config[subject] = str(body["compatibility"]).upper()
        return {"compatibility": self.state.config[subject]}


def _authorized(headers: dict[str, str], expected: tuple[str, str]) -> bool:
    given = headers.get("Authorization") or headers.get("authorization") or ""
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(token).decode("utf-8").partition(":")
    except ValueError:
        return False
    return (user, password) == expected


def _handler(registry: SchemaRegistryStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, body = registry.answer(self.command, self.path, dict(self.headers.items()), raw)
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a stalled answer it timed out on)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
