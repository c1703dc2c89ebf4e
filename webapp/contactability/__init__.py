"""Contactability (SPEC §17): a lead's time zone, the organization's contact policy, and the one check
that says whether a lead may be contacted on a channel now."""
