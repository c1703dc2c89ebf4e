"""Campaigns: list, detail, edit."""
