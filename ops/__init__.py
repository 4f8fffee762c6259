"""Sluice operations: the on-call toolkit behind the ``ops`` command.

``ops/cli/`` holds one module per command group; each domain (``ops/doctor/``)
keeps its models and services apart from the CLI that formats them.
"""
