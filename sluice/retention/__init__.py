"""Retention policies, legal holds and erasure of data subjects, with certificates."""
