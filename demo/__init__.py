"""Sample data and a local Prefect server for the demo and the tests: not part of the pipeline."""
