"""OpenLineage run events of Sluice's flows (:mod:`~sluice.lineage.events`, :mod:`~sluice.lineage.emit`) and the
downstream graph of its datasets (:mod:`~sluice.lineage.graph`)."""
