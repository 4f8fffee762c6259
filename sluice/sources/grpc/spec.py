"""The declarative description of a gRPC server-streaming source, read from YAML.

A stream is described in ``<name>.yaml`` under the ``grpc/`` folder of the APIs
folder (``SLUICE_APIS_DIR``, by default ``apis/`` beside the contracts). It names
the target, the service's ``.proto`` (relative to the description), the service
and its server-streaming method, the request's fixed fields, the message field
that holds a resume token and the request field that takes it back, the dataset
(contract) the messages land in, the batch bounds, the deadlines and retries,
and optionally TLS.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sluice.errors import ConfigError

NAME = r"^[a-z][a-z0-9_]{0,62}$"
IDENT = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
QUALIFIED = r"^[A-Za-z_][A-Za-z0-9_.]{0,254}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Batching(Strict):
    """A batch is committed when it holds ``records`` messages or ``bytes`` bytes, or is ``seconds`` old."""

    records: int = Field(1000, ge=1)
    bytes: int = Field(8 * 1024 * 1024, ge=1)
    seconds: float = Field(5.0, gt=0)


class Retries(Strict):
    deadline_s: float = Field(3600.0, gt=0)  # one call's deadline (the stream is reopened from its token after it)
    idle_s: float = Field(30.0, gt=0)  # longest wait between two messages before the call counts as stalled
    connect_s: float = Field(10.0, gt=0)  # how long the channel may take to be ready
    max_retries: int = Field(6, ge=0)  # calls failing with no message in between before the run gives up
    backoff_s: float = Field(0.5, gt=0)  # the first backoff; doubled each retry, with full jitter
    backoff_max_s: float = Field(30.0, gt=0)


class Tls(Strict):
    enabled: bool = False
    ca_file: str | None = None  # PEM roots (None: the system's)
    server_name: str | None = None  # the name the certificate is checked against (None: the target's host)


class GrpcSpec(Strict):
    name: str = Field(pattern=NAME)
    target: str = Field(min_length=1, max_length=500)  # host:port
    proto: str = Field(min_length=1)  # the service's .proto, relative to the description
    service: str = Field(pattern=QUALIFIED)  # package.Service
    method: str = Field(pattern=IDENT)
    dataset: str = Field(pattern=NAME)
    request: dict[str, object] = Field(default_factory=dict)  # the request's fields (proto JSON names or field names)
    token_field: str = Field(pattern=IDENT)  # the message field holding its resume token
    token_param: str = Field(pattern=IDENT)  # the request field that takes the token to resume after
    batching: Batching = Field(default_factory=Batching)
    retries: Retries = Field(default_factory=Retries)
    tls: Tls = Field(default_factory=Tls)
    folder: Path = Field(default=Path("."), exclude=True)  # where the description is (its .proto is relative to it)

    @property
    def proto_path(self) -> Path:
        path = Path(self.proto)
        return path if path.is_absolute() else self.folder / path


def load_stream(path: Path) -> GrpcSpec:
    """The gRPC stream described in ``path``.

    Raises:
        ConfigError: the file does not exist, is not YAML, or does not describe a gRPC stream.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ConfigError(f"gRPC description {path} is not a mapping", hint="see docs/sources/grpc.md")
        return GrpcSpec.model_validate({**raw, "folder": path.parent})
    except OSError as exc:
        raise ConfigError(
            f"cannot read gRPC description {path}: {exc.strerror}", hint="check SLUICE_APIS_DIR"
        ) from None
    except (yaml.YAMLError, ValidationError, UnicodeDecodeError) as exc:
        raise ConfigError(f"gRPC description {path} is invalid: {exc}", hint="see docs/sources/grpc.md") from None


def streams_root(apis_root: Path) -> Path:
    return apis_root / "grpc"


def find_stream(name: str, root: Path) -> GrpcSpec:
    """The stream named ``name`` in the folder ``root``."""
    if not re.match(NAME, name):
        raise ConfigError(f"{name!r} is not a gRPC stream name", hint="lower case letters, digits and _")
    return load_stream(root / f"{name}.yaml")


def list_streams(root: Path) -> list[str]:
    """The stream names described in ``root`` (none when it does not exist)."""
    return sorted(p.stem for p in root.glob("*.yaml")) if root.is_dir() else []
