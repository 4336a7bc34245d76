"""Compliance: sanctions lists and screening of parties against them (pure modules, no I/O but reading files)."""
