"""Contracts and validation: typing raw columns, checking them with pandera, splitting off the quarantine."""
