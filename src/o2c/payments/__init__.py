"""Payments: methods, card gateways, capture, refunds, application to invoices."""
