"""Project tooling that is not shipped with Sluice: the docs site's generators."""
