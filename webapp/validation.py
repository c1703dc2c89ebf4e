"""Errors are data: validation returns a list of ``{"field", "message"}`` (STYLE: "Errors are data").

The API turns the list into problem+json, the UI into inline messages. The field types every input
model shares (bounded text, ids, tags, choices from a model's tuple) are defined here, once.
"""

import re
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

import email_validator
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .models.base import MAX_ID
from .models.leads import MAX_TAG_LENGTH


class ValidationFailed(Exception):
    """Raised by services when input is invalid; nothing has been changed."""

    def __init__(self, errors: list[dict], status: int = 422):
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors
        self.status = status


class Conflict(Exception):
    """A request that contradicts the current state (duplicate slug, wrong segment kind): 409."""


class StrictModel(BaseModel):
    """Request bodies: unknown fields are errors, strings are trimmed.

    ``required_on_create``: fields a new object needs (blank or null is "is required"). An update
    changes only the fields it is given, and may not set these or ``never_null`` fields to null ("may
    not be empty"). ``presence_errors`` checks both; the API document states both (``api.docs``).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    required_on_create: ClassVar[tuple[str, ...]] = ()
    never_null: ClassVar[tuple[str, ...]] = ()


def presence_errors(model: type[StrictModel], values: dict, *, partial: bool, prefix: str = "") -> list[dict]:
    """The ``required_on_create`` and ``never_null`` rules of ``model`` for these values."""
    errors = []
    if not partial:
        for name in model.required_on_create:
            if values.get(name) is None:
                errors.append({"field": field_path((name,), prefix), "message": "is required"})
        return errors
    for name in (*model.required_on_create, *model.never_null):
        if name in values and values[name] is None:
            errors.append({"field": field_path((name,), prefix), "message": "may not be empty"})
    return errors


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


# --- shared field types -------------------------------------------------------------------------


def blank_to_none(value):
    """Text that is empty once trimmed is no value at all."""
    if isinstance(value, str):
        return value.strip() or None
    return value


def no_nul(value: str | None) -> str | None:
    """PostgreSQL cannot store NUL in text."""
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def optional(value_type):
    """``value_type`` or None, blank text counting as None.

    Constraints belong on ``value_type`` itself: on the union they would also be applied to None.
    """
    return Annotated[value_type | None, BeforeValidator(blank_to_none)]


def text(max_length: int, **constraints):
    """Trimmed text of at most ``max_length`` characters, without NUL; blank is None.

    ``constraints`` are further ``Field`` constraints of the text (``min_length``, ``pattern``).
    """
    return Annotated[
        Annotated[str, Field(max_length=max_length, **constraints)] | None, BeforeValidator(blank_to_none), AfterValidator(no_nul)
    ]


def one_line(value):
    """Line breaks, tabs and other control characters become single spaces: a name goes into email
    headers, where a line break would end the header (and the message could not be sent)."""
    if isinstance(value, str):
        return _CONTROL_CHARACTERS.sub(" ", value)
    return value


_CONTROL_CHARACTERS = re.compile("[\x01-\x1f\x7f\x85\u2028\u2029]+")  # NUL stays an error (no_nul)


def line(max_length: int, **constraints):
    """``text`` on one line: control characters are folded to spaces before it is trimmed."""
    return Annotated[text(max_length, **constraints), BeforeValidator(one_line)]


def choice(values: tuple[str, ...]):
    """One of a model's allowed values (``choice(STATUSES)``), as a ``Literal`` of the tuple."""
    return Literal[values]


# An amount of dollars as the Numeric(14, 2) columns hold it; blank is None.
Money = optional(Annotated[Decimal, Field(ge=0, le=Decimal("999999999999"), decimal_places=2)])

# A row id: a positive 32-bit integer key (a larger one names no row and would overflow the query).
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]


def is_row_id(value) -> bool:
    """Could ``value`` be the id of a row? (Larger numbers name no row and would overflow a query.)"""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


TAG_TOO_LONG = f"tags are at most {MAX_TAG_LENGTH} characters"


def normalise_tag(value: str) -> str:
    """A tag as stored: trimmed, lower-case, at most ``MAX_TAG_LENGTH`` characters (ValueError otherwise)."""
    tag = no_nul(value.strip().lower())
    if len(tag) > MAX_TAG_LENGTH:
        raise ValueError(TAG_TOO_LONG)
    return tag


def _split_tags(value):
    if value is None:
        return []
    if isinstance(value, str):
        return value.split(",")
    return value


def _normalise_tags(tags: list[str]) -> list[str]:
    return sorted({normalise_tag(tag) for tag in tags if tag and tag.strip()})


Tag = Annotated[str, AfterValidator(normalise_tag)]
# A set of tags: a list or comma-separated text; blanks dropped, duplicates merged, sorted. A tag that
# is too long is reported on the whole field.
Tags = Annotated[list[str], BeforeValidator(_split_tags), AfterValidator(_normalise_tags)]


def user_email_problem(address: str) -> str | None:
    """Why ``address`` cannot be a user's sign-in address, or None. One rule for ``flask users
    create`` and the users page: a well-formed address; internal and test domains (``acme.test``)
    are accepted, since nobody needs to send mail to them for the user to sign in."""
    try:
        email_validator.validate_email(address, check_deliverability=False, globally_deliverable=False, test_environment=True)
    except email_validator.EmailNotValidError as exc:
        return str(exc)
    return None


def documented_as(**json_schema):
    """Tell the API document a rule that a service checks itself (with its own messages), so that the
    document and the server agree: ``Annotated[str, documented_as(enum=[...])]``."""
    return Field(json_schema_extra=json_schema)


def requires_one_of(*names: str, non_blank: bool = False):
    """A model's ``json_schema_extra``: the body needs at least one of these fields (non-blank text,
    with ``non_blank``). It is written as one complete object schema per field, which client
    generators turn into typed alternatives (a bare ``anyOf`` of ``required`` lists becomes ``Any``)."""

    def extra(schema: dict) -> None:
        whole = {key: schema.pop(key) for key in ("type", "properties", "required", "additionalProperties") if key in schema}
        alternatives = []
        for name in names:
            properties = dict(whole["properties"])
            if non_blank:
                properties[name] = {**{k: v for k, v in properties[name].items() if k != "default"}, "pattern": r"\S"}
            alternatives.append(
                {
                    **whole,
                    "title": f"{schema.get('title', 'Body')} with {name}",
                    "properties": properties,
                    "required": sorted({*whole.get("required", []), name}),
                }
            )
        schema["anyOf"] = alternatives

    return extra
