"""Billing stage: invoices, credit notes, e-invoices."""
