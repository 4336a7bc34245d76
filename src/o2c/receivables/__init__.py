"""Receivables: bank statements, reconciliation, reminders."""
