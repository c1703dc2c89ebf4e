"""The suppression list (SPEC §17): its page, its services, its CSV imports."""
