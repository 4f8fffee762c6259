"""Chaos drills for Sluice (see issue: chaos suite)."""
