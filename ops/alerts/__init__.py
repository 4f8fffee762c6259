"""Alert rules, their evaluation with hysteresis, and alert events (see ``ops alerts``)."""
