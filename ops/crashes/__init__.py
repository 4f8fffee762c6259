"""Crashed flow runs: a flow process that died (segfault, OOM kill, SIGKILL) without reporting its end.

A dead process leaves its flow run Running for ever and never runs its own
``on_crashed`` hook. Every Sluice flow run records where its process runs
(:mod:`ops.crashes.liveness`, labels on the run), and Prefect's engine emits a
``prefect.flow-run.heartbeat`` event every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``
seconds while it lives. The ``detect-crashes`` flow judges each Running run:
its process gone from this host, or no heartbeat for ``SLUICE_CRASH_MISSED_HEARTBEATS``
intervals, makes it Crashed (:mod:`ops.crashes.service`); then every Crashed
run gets its incident, once (:mod:`ops.crashes.once`).
"""
