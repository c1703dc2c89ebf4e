"""Errors are data: validation returns a list of ``{"field", "message"}`` (STYLE: "Errors are data").

The API turns the list into problem+json, the UI into inline messages.
"""
from pydantic import BaseModel, ConfigDict, ValidationError


class ValidationFailed(Exception):
    """Raised by services when input is invalid; nothing has been changed."""

    def __init__(self, errors: list[dict], status: int = 422):
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors
        self.status = status


class Conflict(Exception):
    """A request that contradicts the current state (duplicate slug, wrong segment kind): 409."""


class StrictModel(BaseModel):
    """Request bodies: unknown fields are errors, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def field_path(loc: tuple, prefix: str = "") -> str:
    """``("rules", 1, "value")`` → ``"rules[1].value"``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def errors_from_pydantic(exc: ValidationError, prefix: str = "") -> list[dict]:
    errors = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p not in ("function-after", "function-before"))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        errors.append({"field": field_path(loc, prefix), "message": message})
    return errors


def parse(model: type[BaseModel], data, prefix: str = ""):
    """Validate ``data`` into ``model`` or raise ValidationFailed with field paths."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(errors_from_pydantic(exc, prefix)) from None
