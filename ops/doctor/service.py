"""The checks behind ``ops doctor``: one function per dependency of an ingestion run.

The source databases' checks are in :mod:`ops.doctor.databases`.

Each check returns a :class:`CheckResult` and never raises; a check that
crashes is reported as FAIL. Heavy clients (httpx, distributed, SQLAlchemy,
deltalake) are imported inside the check that needs them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ops.doctor.apis import check_apis
from ops.doctor.databases import check_databases
from ops.doctor.grpc_streams import check_grpc_streams
from ops.doctor.models import CheckResult
from ops.doctor.streams import check_streams
from sluice.settings import Settings, unknown_settings
from sluice.sources.grpc.spec import streams_root

PREFECT_HINT = "start it with `prefect server start` and export PREFECT_API_URL=http://127.0.0.1:4200/api"
LOW_DISK_BYTES = 1 << 30


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def prefect_api_url() -> str | None:
    """``PREFECT_API_URL`` from the environment, else from the active Prefect profile."""
    url = os.environ.get("PREFECT_API_URL")
    if url:
        return url
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


LOCAL_API = "http://127.0.0.1:4200/api"


def check_prefect_api(url: str | None, *, timeout: float = 3.0) -> CheckResult:
    name = "Prefect API"
    import httpx

    if not url:
        try:
            local = httpx.get(f"{LOCAL_API}/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            local = False
        if local:
            return CheckResult.warn(
                name,
                f"a server answers at {LOCAL_API}, but PREFECT_API_URL is not set",
                f"export PREFECT_API_URL={LOCAL_API}",
            )
        return CheckResult.warn(
            name,
            "PREFECT_API_URL is not set: each flow run starts a temporary ephemeral server, and its runs are not kept",
            PREFECT_HINT,
        )

    shown = redact_url(url)
    try:
        response = httpx.get(f"{url.rstrip('/')}/health", timeout=timeout)
    except httpx.HTTPError as exc:
        return CheckResult.fail(name, f"{shown} is unreachable: {type(exc).__name__}: {exc}", PREFECT_HINT)
    if response.status_code != 200:
        return CheckResult.fail(
            name,
            f"{shown}/health answered HTTP {response.status_code}",
            "check that PREFECT_API_URL ends in /api and points at a Prefect server",
        )
    return CheckResult.ok(name, f"{shown} is healthy")


def check_dask(address: str | None, workers: int, *, timeout: float = 5.0) -> CheckResult:
    name = "Dask"
    if not address:
        return CheckResult.ok(
            name, f"SLUICE_DASK_ADDRESS is not set: a LocalCluster with {workers} worker(s) starts per run"
        )
    from distributed import Client

    hint = "check SLUICE_DASK_ADDRESS and that the scheduler is running, or unset it to use a LocalCluster"
    try:
        with Client(address, timeout=timeout, set_as_default=False) as client:  # type: ignore[no-untyped-call]
            count = len(client.nthreads())
    except (OSError, TimeoutError, ValueError) as exc:
        return CheckResult.fail(name, f"scheduler at {address} is unreachable: {exc}", hint)
    if count == 0:
        return CheckResult.fail(
            name, f"scheduler at {address} has no workers", f"start workers with `dask worker {address}`; {hint}"
        )
    return CheckResult.ok(name, f"scheduler at {address} has {count} worker(s)")


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _local_location(name: str, path: Path, detail: str, setting: str) -> CheckResult:
    """Whether ``path`` is (or can be created as) a writable folder with disk space to spare."""
    hint = f"fix the permissions, or point {setting} at a writable folder"
    if path.exists() and not path.is_dir():
        return CheckResult.fail(name, f"{path} is a file, not a folder", hint)
    existing = _nearest_existing(path)
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".sluice-doctor-"):
            pass
    except OSError as exc:
        where = path if existing == path else f"{existing} (to create {path})"
        return CheckResult.fail(name, f"cannot write to {where}: {exc.strerror or exc}", hint)
    free = shutil.disk_usage(existing).free
    detail = f"{detail}; {free / (1 << 30):.1f} GiB free"
    if free < LOW_DISK_BYTES:
        return CheckResult.warn(name, detail, f"free disk space, or move the data with {setting}")
    return CheckResult.ok(name, detail)


def _remote_location(
    name: str, uri: str, tables: dict[str, str], storage_options: dict[str, str], setting: str
) -> CheckResult:
    """Open each of ``tables`` (label -> URI) to prove the location is readable."""
    from sluice.errors import LakeError
    from sluice.lake.table import open_table

    found = []
    try:
        for label, table_uri in tables.items():
            if open_table(table_uri, storage_options) is not None:
                found.append(label)
    except LakeError as exc:
        return CheckResult.fail(
            name, f"{uri}: {exc.args[0]}", f"check {setting}, SLUICE_LAKE_STORAGE_OPTIONS and the credentials"
        )
    return CheckResult.ok(name, f"{uri}: " + (f"tables {', '.join(found)}" if found else "no tables yet"))


def _local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://")).expanduser()


def check_lake(root: str, storage_options: dict[str, str], contracts_root: Path) -> CheckResult:
    name, setting = "Lake", "SLUICE_LAKE_URI"
    if not _is_local(root):
        from sluice.lake.table import table_uri
        from sluice.paths import is_dataset_name
        from sluice.validate.contracts import available_contracts

        # A contract file with an invalid name is the Contracts check's to report.
        probes = {d: table_uri(root, d) for d in available_contracts(contracts_root) if is_dataset_name(d)}
        return _remote_location(name, root, probes, storage_options, setting)
    path = _local_path(root)
    tables = sorted(p.name for p in path.iterdir() if (p / "_delta_log").is_dir()) if path.is_dir() else []
    listed = f"{len(tables)} table(s): {', '.join(tables)}" if tables else "no dataset tables yet"
    return _local_location(name, path, f"{path}: {listed}", setting)


def check_quarantine(root: str, storage_options: dict[str, str]) -> CheckResult:
    name, setting = "Quarantine", "SLUICE_QUARANTINE_URI"
    if not _is_local(root):
        return _remote_location(name, root, {"quarantine": root}, storage_options, setting)
    path = _local_path(root)
    state = "table present" if (path / "_delta_log").is_dir() else "no quarantine table yet"
    return _local_location(name, path, f"{path}: {state}", setting)


def _scrub(message: str, secret: str | None) -> str:
    first = message.strip().splitlines()[0] if message.strip() else message
    return first.replace(secret, "***") if secret else first


def check_metadata_store(url: str) -> CheckResult:
    name = "Metadata store"
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        return CheckResult.fail(
            name,
            "SLUICE_METADATA_URL is not a valid database URL",
            "use e.g. sqlite:////path/sluice.db or postgresql+psycopg://user@host/db",
        )
    shown = parsed.render_as_string(hide_password=True)
    from sluice.runs.metastore import engine_for

    try:
        with engine_for(url).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except (sa.exc.SQLAlchemyError, ImportError, OSError) as exc:
        return CheckResult.fail(
            name,
            f"{shown}: {_scrub(str(exc), parsed.password)}",
            "check SLUICE_METADATA_URL and that the database accepts connections",
        )
    return CheckResult.ok(name, f"{shown} answers")


def check_contracts(root: Path) -> CheckResult:
    name = "Contracts"
    hint = "set SLUICE_CONTRACTS_DIR to the folder of contract YAML files"
    if not root.is_dir():
        return CheckResult.fail(name, f"{root} is not a folder", hint)
    from sluice.errors import ContractError
    from sluice.validate.contracts import available_contracts, find_contract

    names = available_contracts(root)
    if not names:
        return CheckResult.warn(name, f"no contracts (*.yaml) in {root}", hint)
    errors = []
    for contract in names:
        try:
            find_contract(contract, root)
        except ContractError as exc:
            errors.append(str(exc.args[0]))
    if errors:
        return CheckResult.fail(
            name,
            f"{len(errors)} of {len(names)} contract(s) do not load:\n" + "\n".join(errors),
            "fix the fields named above; `git diff` the contract folder for recent edits",
        )
    return CheckResult.ok(name, f"{len(names)} contract(s) load from {root}: {', '.join(names)}")


def check_settings(environ: Mapping[str, str]) -> list[CheckResult]:
    """A WARN per ``SLUICE_*`` variable no setting reads (a typo is ignored silently otherwise), or one OK."""
    name = "Settings"
    unknown = unknown_settings(environ)
    if not unknown:
        count = sum(1 for key in environ if key.upper().startswith("SLUICE_"))
        return [CheckResult.ok(name, f"{count} SLUICE_* variable(s) set, every one a known setting")]
    return [
        CheckResult.warn(
            name,
            f"{u.name} is not a Sluice setting: it is ignored",
            f"did you mean {u.closest}?"
            if u.closest
            else "unset it; the Configuration page of the docs lists every setting",
        )
        for u in unknown
    ]


def _guarded(name: str, check: Callable[[], CheckResult | list[CheckResult]]) -> list[CheckResult]:
    try:
        found = check()
    except Exception as exc:  # noqa: BLE001 - a crashing check must not hide the others
        return [
            CheckResult.fail(
                name,
                f"the check itself failed: {type(exc).__name__}: {exc}",
                "fix the cause above, then rerun `ops doctor`",
            )
        ]
    return found if isinstance(found, list) else [found]


def run_checks(settings: Settings, *, slots: tuple[str, ...] = (), publication: str | None = None) -> list[CheckResult]:
    """Every check, in the order an ingestion run meets its dependencies, the settings first.

    ``slots`` and ``publication`` name what change capture's server (``SLUICE_CDC_DSN``) must hold.
    """
    lake_opts = dict(settings.lake_storage_options)
    databases = {name: url.get_secret_value() for name, url in settings.databases.databases.items()}
    cdc_dsn = settings.databases.cdc_dsn.get_secret_value() if settings.databases.cdc_dsn is not None else None
    checks: list[tuple[str, Callable[[], CheckResult | list[CheckResult]]]] = [
        ("Settings", lambda: check_settings(os.environ)),
        ("Prefect API", lambda: check_prefect_api(prefect_api_url())),
        ("Dask", lambda: check_dask(settings.dask_address, settings.dask_workers)),
        ("Lake", lambda: check_lake(settings.lake_root(), lake_opts, settings.contracts_root())),
        ("Quarantine", lambda: check_quarantine(settings.quarantine_root(), lake_opts)),
        ("Metadata store", lambda: check_metadata_store(settings.metadata_db_url())),
        ("Contracts", lambda: check_contracts(settings.contracts_root())),
        (
            "Databases",
            lambda: check_databases(databases, cdc_dsn, slots=slots, publication=publication),
        ),
        ("Streams", lambda: check_streams(settings.streams, settings.registry)),
        ("APIs", lambda: check_apis(settings.apis_root())),
        ("gRPC streams", lambda: check_grpc_streams(streams_root(settings.apis_root()))),
    ]
    return [result for name, check in checks for result in _guarded(name, check)]
