"""The dashboard and the notifications bell."""
