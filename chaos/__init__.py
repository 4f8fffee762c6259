"""Chaos drills for Sluice: real faults on loopback, judged against the source itself.

Experiments (``chaos/experiments/*.yaml``) are Chaos Toolkit experiments; this
package holds what they call and what runs them:

- ``experiment``  loading and validating experiments and their ``sluice`` extension
- ``guard``       the blast-radius guard (which environments a drill may touch)
- ``runner``      :func:`~chaos.runner.run_drill`: the toolkit run with Sluice's settings
- ``prerequisites``  what a drill needs on this host (the chaos extra, a tmpfs), checked before it begins
- ``control``     the toolkit control: guards, rollbacks always, recovery, verdicts
- ``aftermath``   verdicts recorded: incident timelines, the journal store, the flow run artifact
- ``drill``       the drill in progress; ``stack`` its S3, lake and Dask on loopback
- ``probes`` / ``actions``  the Python providers the experiments name
- API drills: ``apisource`` (a described API behind ``httpproxy``, the HTTP fault proxy:
  429 with Retry-After, then 5xx), ``apiactions``, ``apiprobes``
- fault injectors: ``proxy`` (TCP faults), ``source`` (deliveries, schema, duplicates,
  poison), ``workers`` (Dask worker kill), ``prefect_api``, ``disk`` (a full tmpfs)
- judging: ``census`` (conservation from the source), ``verdicts`` (verdicts, score),
  ``incidents`` (drill incidents), ``journal`` (the ``chaos_drills`` table), ``report``
- ``store``       the chaos store: its own declarative base and migrations, in the incident store's database
"""
