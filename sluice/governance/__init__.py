"""Data governance: PII discovery over lake samples, and the business glossary contracts link to.

:mod:`sluice.governance.pii` scans a sample of a dataset's table and proposes
``pii:`` tags; :mod:`sluice.governance.glossary` loads ``glossary.yaml`` and
finds naming conflicts across contracts. Nothing here imports flows, tasks or
``ops``: ingestion and the CLI call in.
"""
