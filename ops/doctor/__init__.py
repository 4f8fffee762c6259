"""Health checks of everything an ingestion run depends on."""
