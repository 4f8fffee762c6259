"""Run records and the metadata store that keeps them."""
