"""Incidents: one per failure signature, their lifecycle and their store."""
