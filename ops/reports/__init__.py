"""Incident reports over a period: response times, counts, repeat offenders, overdue action items (``ops report``)."""
