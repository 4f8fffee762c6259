"""Writing manifests: right after each commit, by the run; later, for a version that has none, by an operator.

The run writes the manifest after its Delta commit, while it still holds
the dataset's lease. A run that dies between the two leaves a version
without a manifest: ``ops manifest verify`` says "no manifest", and
``ops manifest write DATASET@VERSION`` writes one from the Delta log and
the files as they are then, marked ``backfilled``. A manifest that cannot
be written after the commit is logged as an error and does not fail the
run: the commit stands, and the same command writes it later. A signing key
that cannot be loaded fails the run before it commits anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sluice.lake.manifest import build_manifest, sign, write_manifest
from sluice.lake.manifest_keys import Signer, load_signer
from sluice.settings import Settings, get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ManifestWriter:
    """Builds, signs and stores the manifest of each commit a run makes."""

    env: str
    signer: Signer | None

    def record(self, dataset: str, uri: str, version: int | None, storage_options: dict[str, str]) -> str | None:
        """The manifest of ``version`` stored beside it; where, or ``None`` when it could not be written (logged)."""
        if version is None:
            return None
        try:
            signed = sign(build_manifest(uri, version, storage_options or None, env=self.env), self.signer)
            return write_manifest(uri, signed, storage_options or None)
        except Exception as exc:  # noqa: BLE001 - the commit stands; its manifest can be written later
            log.error(
                "%s: the manifest of version %d was not written (%s); `ops manifest write %s@%d` writes it",
                dataset,
                version,
                str(exc).splitlines()[0],
                dataset,
                version,
            )
            return None


def manifest_writer(settings: Settings | None = None) -> ManifestWriter:
    """The writer for this process's settings.

    Raises:
        ConfigError: the signing key cannot be loaded, or signing is required and no key is configured.
    """
    settings = settings or get_settings()
    return ManifestWriter(settings.env, load_signer(settings.manifests))


def backfill(uri: str, version: int, storage_options: dict[str, str] | None, settings: Settings) -> str:
    """Write the manifest of a version that has none, from its Delta log and its files as they are now.

    Raises:
        ManifestError: the version has a manifest already, the log lacks it, or a file differs from the log.
        ConfigError: the signing key cannot be loaded.
    """
    signer = load_signer(settings.manifests)
    manifest = build_manifest(uri, version, storage_options, env=settings.env, backfilled=True)
    return write_manifest(uri, sign(manifest, signer), storage_options)
