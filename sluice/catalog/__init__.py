"""The catalog: what Sluice knows of each dataset, searchable, and as it was at a date."""
