"""Governed reads: policies in git, principals from OIDC ID tokens, and an append-only access audit."""
