"""Small text helpers shared by the features."""

import re

MAX_SLUG_LENGTH = 200  # the slug columns are String(200)
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"  # what slugify() makes, and what a given slug must be


def slugify(text: str, fallback: str, max_length: int = MAX_SLUG_LENGTH) -> str:
    """``"Texas & Florida — homeowners!"`` → ``"texas-florida-homeowners"``: lower-case ASCII letters and
    digits joined by single hyphens, cut to ``max_length`` (no hyphen left at the end); ``fallback``
    when nothing is left."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:max_length].strip("-")
    return slug or fallback
