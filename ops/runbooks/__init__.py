"""Runbooks: Markdown files with YAML front matter under ``runbooks/``; loading, matching and linting."""
