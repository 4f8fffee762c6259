"""Names and the paths built from them: checked before anything is read or written.

A dataset name becomes a contract file name, a lake table folder, a
quarantine partition and a label on every metric, so it is held to one
pattern, :data:`DATASET_NAME_PATTERN`. Every path built under a root (lake,
quarantine, staging, contracts) is checked to stay inside it: local paths
are resolved (``..`` and symbolic links followed) and compared with the
resolved root; object-store keys (``s3://bucket/prefix``) are normalised and
must not hold ``..``, ``.``, empty segments or backslashes.
"""

from __future__ import annotations

import re
from pathlib import Path

from sluice.errors import ConfigError, SluiceError

DATASET_NAME_PATTERN = r"[a-z][a-z0-9_]{0,62}"
DATASET_NAME_MAX = 63
DATASET_NAME_HINT = (
    "a dataset name is 1 to 63 characters: a lowercase letter first, then lowercase letters, "
    "digits or underscores (e.g. orders, web_events_v2)"
)
_DATASET_NAME = re.compile(DATASET_NAME_PATTERN)
_SHOWN_CHARS = 80


def shown(text: str) -> str:
    """``text`` quoted for a message: escapes control and non-ASCII characters, cut to a readable length."""
    cut = text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."
    return ascii(cut)


def dataset_name_problem(name: object) -> str | None:
    """Why ``name`` is not a valid dataset name, or ``None`` when it is."""
    if not isinstance(name, str):
        return f"a dataset name must be text, not {type(name).__name__}"
    if _DATASET_NAME.fullmatch(name):
        return None
    if not name:
        return "the dataset name is empty"
    if len(name) > DATASET_NAME_MAX:
        return f"dataset name {shown(name)} is {len(name)} characters long (at most {DATASET_NAME_MAX})"
    if any(sep in name for sep in ("/", "\\", "\x00")) or ".." in name:
        return f"dataset name {shown(name)} holds a path separator, '..' or NUL"
    bad = next((c for c in name if not ("a" <= c <= "z" or "0" <= c <= "9" or c == "_")), None)
    if bad is not None and "A" <= bad <= "Z":
        return f"dataset name {shown(name)} has uppercase letters"
    if bad is not None:
        return f"dataset name {shown(name)} has the character {bad!a}; only a-z, 0-9 and _ are allowed"
    return f"dataset name {shown(name)} does not start with a lowercase letter"


def is_dataset_name(name: object) -> bool:
    return dataset_name_problem(name) is None


def ensure_dataset_name(name: object, *, error: type[SluiceError] = ConfigError) -> str:
    """Return ``name`` if it is a valid dataset name.

    Raises:
        ConfigError: (or ``error``) the message says what is wrong with the name,
            the hint what a valid one looks like.

    Example:
        >>> ensure_dataset_name("orders")
        'orders'
    """
    problem = dataset_name_problem(name)
    if problem is not None or not isinstance(name, str):
        raise error(problem or "a dataset name must be text", hint=DATASET_NAME_HINT)
    return name


def ensure_segment(segment: str) -> str:
    """Return ``segment`` if it is one usable path component.

    Raises:
        ConfigError: empty, ``.`` or ``..``, or holding ``/``, ``\\`` or NUL.
    """
    if not isinstance(segment, str) or segment in ("", ".", ".."):
        raise ConfigError(
            f"path segment {shown(str(segment))} is empty, '.' or '..'",
            hint="a path below a root is built from plain names",
        )
    if any(sep in segment for sep in ("/", "\\", "\x00")):
        raise ConfigError(
            f"path segment {shown(segment)} holds '/', '\\' or NUL",
            hint="a path below a root is built from plain names",
        )
    return segment


def is_object_store(uri: str) -> bool:
    """True for ``scheme://...`` roots other than ``file://`` (S3 and the like)."""
    scheme, sep, _ = uri.partition("://")
    return bool(sep) and scheme.lower() != "file"


def child_path(root: Path | str, *segments: str) -> Path:
    """``root/segment/...`` on local disk, refused unless it resolves to a place inside ``root``.

    The returned path keeps the form of ``root`` (not resolved), so messages
    and logs show the configured location.

    Raises:
        ConfigError: a segment is unusable, or the path (after resolving
            ``..`` and symbolic links) leaves ``root``.
    """
    for segment in segments:
        ensure_segment(segment)
    base = Path(root)
    target = base.joinpath(*segments)
    real_base = base.resolve()
    real_target = target.resolve()
    if not segments or real_target == real_base or not real_target.is_relative_to(real_base):
        raise ConfigError(
            f"path {shown(str(target))} leaves its root {shown(str(base))}",
            hint="names below a root must not lead outside it (no '..', no symbolic link out)",
        )
    return target


def _object_key(root: str) -> tuple[str, str, list[str]]:
    """Scheme, bucket and prefix segments of an object-store root; refuses '..', '.' and empty segments."""
    scheme, _, rest = root.partition("://")
    bucket, _, prefix = rest.partition("/")
    parts = prefix.rstrip("/").split("/") if prefix.rstrip("/") else []
    if not bucket or any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in [bucket, *parts]):
        raise ConfigError(
            f"root {shown(root)} is not a clean {scheme}://bucket/prefix location",
            hint="use a root without '..', '.', '//' or backslashes, e.g. s3://lake-bucket/sluice",
        )
    return scheme, bucket, parts


def child_uri(root: str, *segments: str) -> str:
    """``root/segment/...`` for a local or object-store root, refused unless it stays inside ``root``.

    Example:
        >>> child_uri("s3://lake/prod", "orders")
        's3://lake/prod/orders'

    Raises:
        ConfigError: a segment is unusable or the location leaves ``root``.
    """
    if not is_object_store(root):
        local = root.removeprefix("file://")
        child_path(local or ".", *segments)
        return f"{root.rstrip('/')}/{'/'.join(segments)}"
    for segment in segments:
        ensure_segment(segment)
    scheme, bucket, parts = _object_key(root)
    prefix = "/".join(parts)
    key = "/".join([*parts, *segments])
    if not segments or (prefix and not key.startswith(prefix + "/")):
        raise ConfigError(
            f"location {shown(key)} leaves its root {shown(root)}", hint="names below a root must not lead outside it"
        )
    return f"{scheme}://{bucket}/{key}"


def dataset_uri(root: str, dataset: str) -> str:
    """The location of ``dataset``'s table under the lake ``root``, after checking the name and the path."""
    return child_uri(root, ensure_dataset_name(dataset))
