"""Sluice core: dataset contracts, readers, validation, the lake and run records.

The flows in ``flows/`` orchestrate, the tasks in ``tasks/`` wrap one side effect
each, and everything they call lives here as plain, testable functions.
"""

__version__ = "0.1.0"
