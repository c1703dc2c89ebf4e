"""Features extend shared pages through plain lists (navigation, panels, hooks); this keeps them unique."""


def add_once(registry: list, item) -> None:
    """Append ``item`` unless it is there already (create_app may run many times in one process)."""
    if item not in registry:
        registry.append(item)
