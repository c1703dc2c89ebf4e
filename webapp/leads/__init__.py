"""Leads: list, detail, forms, CSV import."""
