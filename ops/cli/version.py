"""``ops version``: the versions of Sluice and the libraries it runs on."""

import platform
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from ops.cli._tables import key, print_fitted
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    print_json,
    with_cli_exception_handling,
)

COMPONENTS = ("prefect", "dask", "distributed", "deltalake", "pandera", "pyarrow")


def installed_versions() -> dict[str, str]:
    """Component name -> version, read from package metadata without importing the packages."""
    from sluice import __version__

    found = {"sluice": __version__, "python": platform.python_version()}
    for name in COMPONENTS:
        try:
            found[name] = package_version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


@with_cli_exception_handling
def version(*, output: OutputOption = OutputFormat.TABLE) -> None:
    """Show the versions of Sluice, Python, Prefect, Dask, deltalake, pandera and pyarrow."""
    versions = installed_versions()
    if output is OutputFormat.JSON:
        print_json(versions)
        return
    print_fitted([key("Component"), key("Version")], [[cell(name), cell(ver)] for name, ver in versions.items()])
