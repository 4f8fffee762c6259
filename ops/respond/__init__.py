"""Responding to a failure: open or update its incident, attach the runbook, notify."""
