"""Materialised aggregates of lake tables, kept up to date from each table version's changes."""
