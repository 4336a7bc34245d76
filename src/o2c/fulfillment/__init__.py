"""Fulfillment stage."""
