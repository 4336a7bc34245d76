"""Shipping stage."""
