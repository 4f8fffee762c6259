"""The runbooks, as package data: one Markdown file per failure mode (see README.md here).

Nothing to import: :func:`ops.runbooks.catalog.packaged_runbooks` finds this
folder through :mod:`importlib.resources`, so an installed Sluice reads the
runbooks it was installed with.
"""
