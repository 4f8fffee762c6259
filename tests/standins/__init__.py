"""Local stand-ins for outside services the tests talk to through the real clients."""
