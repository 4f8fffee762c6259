"""PostgreSQL change data capture through logical decoding (wal2json), exactly once into the lake.

- :mod:`~sluice.sources.cdc.slots`: replication slots (create, inspect, advance, drop), slot lag and the
  heartbeat, and the server checks behind every error's hint;
- :mod:`~sluice.sources.cdc.decode`: wal2json format-version 2 rows into whole transactions and Arrow frames;
- :mod:`~sluice.sources.cdc.positions`: LSNs as integers, and the LSN a lake table holds for a slot;
- :mod:`~sluice.sources.cdc.sink`: where a batch of changes goes (``<dataset>_changes``, or the keyed table);
- :mod:`~sluice.sources.cdc.capture`: the loop peek, commit, then advance.
"""
