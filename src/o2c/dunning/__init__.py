"""Reminders (dunning) of overdue invoices."""
