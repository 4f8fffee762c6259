"""The Delta Lake: tables, staging, the commit protocol and its lease, the quarantine, maintenance."""
