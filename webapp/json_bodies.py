"""JSON request bodies: nesting past ``MAX_DEPTH`` levels is refused like any malformed body (400).

Python's decoder raises RecursionError at about a thousand levels, and deep values that it does
parse would overflow every recursive walk after it (validation, storage); no Leadflow body needs
more than a few levels.
"""

from flask.json.provider import DefaultJSONProvider

MAX_DEPTH = 64


class BoundedJSONProvider(DefaultJSONProvider):
    def loads(self, s, **kwargs):
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
        if nesting_depth(value) > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        return value


def nesting_depth(value) -> int:
    """How many arrays and objects deep ``value`` goes (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest
