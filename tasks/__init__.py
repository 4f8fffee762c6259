"""Prefect tasks: one side effect each, thin wrappers over ``sluice`` functions."""
