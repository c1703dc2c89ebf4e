"""Errors are data: validation returns a list of ``{"field", "message"}`` (STYLE: "Errors are data").

The API turns the list into problem+json, the UI into inline messages. The field types every input
model shares (bounded text, ids, tags, choices from a model's tuple) are defined here, once.
"""

import functools
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Literal
from zoneinfo import available_timezones

import email_validator
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema

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
    not be empty"). ``create_only``: fields an update may not give (what is recorded with a new object
    alone). ``presence_errors`` checks them all; the API document states them (``api.docs``).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    required_on_create: ClassVar[tuple[str, ...]] = ()
    never_null: ClassVar[tuple[str, ...]] = ()
    create_only: ClassVar[tuple[str, ...]] = ()


def presence_errors(model: type[StrictModel], values: dict, *, partial: bool, prefix: str = "") -> list[dict]:
    """The ``required_on_create``, ``never_null`` and ``create_only`` rules of ``model`` for these values."""
    errors = []
    if not partial:
        for name in model.required_on_create:
            if values.get(name) is None:
                errors.append({"field": field_path((name,), prefix), "message": "is required"})
        return errors
    for name in (*model.required_on_create, *model.never_null):
        if name in values and values[name] is None:
            errors.append({"field": field_path((name,), prefix), "message": "may not be empty"})
    for name in model.create_only:
        if name in values:
            errors.append({"field": field_path((name,), prefix), "message": "may be given only when creating"})
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


def pydantic_message(error: dict) -> str:
    """pydantic's own words for one error (``ValidationError.errors()``), ours for an unknown field."""
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return error["msg"].removeprefix("Value error, ")


def errors_from_pydantic(exc: ValidationError, prefix: str = "", message=pydantic_message) -> list[dict]:
    """``[{"field", "message"}]`` for a ``ValidationError``; ``message(error)`` words each one (the
    import's plain sentences: ``human_errors.human_message``)."""
    errors = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p not in ("function-after", "function-before"))
        errors.append({"field": field_path(loc, prefix), "message": message(err)})
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


# What str.strip() removes, as a regex class body: the document's patterns say "blank" with it
# (a regex's own \s differs from Python's, and between regex engines).
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Blank text, which the optional fields read as no value: so the API document says.
BLANK = {"type": "string", "pattern": f"^[{WHITESPACE}]*$"}


def _blank_too(schema: dict) -> None:
    schema["anyOf"] = [*schema.get("anyOf", []), BLANK]


def optional(value_type):
    """``value_type`` or None, blank text counting as None.

    Constraints belong on ``value_type`` itself: on the union they would also be applied to None.
    """
    return Annotated[value_type | None, BeforeValidator(blank_to_none), Field(json_schema_extra=_blank_too)]


def at_most(max_length: int) -> BeforeValidator:
    """Text of at most ``max_length`` characters as sent, before it is trimmed or folded (what the
    API document's ``maxLength`` says)."""

    def check(value):
        if isinstance(value, str) and len(value) > max_length:
            raise ValueError(f"must be at most {max_length} characters")
        return value

    return BeforeValidator(check)


def text(max_length: int, **constraints):
    """Trimmed text of at most ``max_length`` characters, without NUL; blank is None.

    ``constraints`` are further ``Field`` constraints of the text (``min_length``, ``pattern``). A
    pattern admits blank text too: blank is no value, before the pattern is checked.
    """
    if "pattern" in constraints:
        constraints["pattern"] = f"^[{WHITESPACE}]*$|{constraints['pattern']}"
    return Annotated[
        Annotated[str, Field(max_length=max_length, **constraints)] | None,
        BeforeValidator(blank_to_none),
        AfterValidator(no_nul),
        at_most(max_length),
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
    return Annotated[text(max_length, **constraints), BeforeValidator(one_line), at_most(max_length)]


def choice(values: tuple[str, ...]):
    """One of a model's allowed values (``choice(STATUSES)``), as a ``Literal`` of the tuple."""
    return Literal[values]


# An amount of dollars as the Numeric(14, 2) columns hold it, as a number or as text; blank is None.
MAX_MONEY = 999_999_999_999
Money = optional(
    Annotated[
        Decimal,
        Field(ge=0, le=MAX_MONEY, decimal_places=2),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "number", "minimum": 0, "maximum": MAX_MONEY, "multipleOf": 0.01},
                    {"type": "string", "pattern": f"^[{WHITESPACE}]*[0-9]{{1,12}}(\\.[0-9]{{1,2}})?[{WHITESPACE}]*$"},
                ]
            },
            mode="validation",
        ),
    ]
)


def iso_date(year: str = r"[1-9][0-9]{3}") -> str:
    """A regex (unanchored) of the calendar dates of ``year``, a regex too: each month with its days
    (February with 28: a pattern cannot tell leap years)."""
    days = r"((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))"
    return f"({year})-{days}"


def iso_text_only(value):
    """A moment is ISO 8601 text (or null): a number is not a time (pydantic would read it as seconds
    since 1970)."""
    if value is None or isinstance(value, (str, datetime)):
        return value
    raise ValueError("must be a date and time in ISO 8601, like 2025-05-01T09:00:00Z")


# A moment given as ISO 8601 text; blank is None.
DateTime = optional(Annotated[datetime, BeforeValidator(iso_text_only), Field(json_schema_extra={"format": "date-time"})])

# A row id: a positive 32-bit integer key (a larger one names no row and would overflow the query).
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]


def is_row_id(value) -> bool:
    """Could ``value`` be the id of a row? (Larger numbers name no row and would overflow a query.)"""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


@functools.cache
def timezone_names() -> frozenset[str]:
    """The IANA time zone names this system knows, of regions ("Area/Location") and UTC: not the legacy
    aliases (EST5EDT, GMT0) nor Etc/GMT+5, whose sign is the reverse of what it reads."""
    return frozenset(name for name in available_timezones() if name == "UTC" or ("/" in name and not name.startswith(("Etc/", "SystemV/"))))


def check_timezone(value):
    """An IANA zone name exactly as the database of zones spells it (ValueError otherwise)."""
    if isinstance(value, str) and value not in timezone_names():
        raise ValueError("must be an IANA time zone name, e.g. America/Chicago")
    return value


# An IANA time zone name (a lead's, an organization's default: SPEC §17), e.g. America/Chicago.
TimeZoneName = Annotated[
    str, BeforeValidator(check_timezone), Field(json_schema_extra=lambda schema: schema.update(enum=sorted(timezone_names())))
]

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
Tags = Annotated[
    list[str],
    BeforeValidator(_split_tags),
    AfterValidator(_normalise_tags),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "items": {"type": "string", "maxLength": MAX_TAG_LENGTH}},
                {
                    "type": "string",
                    "description": "comma-separated tags",
                    "pattern": f"^[^,\\x00]{{0,{MAX_TAG_LENGTH}}}(,[^,\\x00]{{0,{MAX_TAG_LENGTH}}})*$",
                },
                {"type": "null", "description": "no tags"},
            ]
        },
        mode="validation",
    ),
]


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


def any_case_of(words: list[str] | tuple[str, ...]) -> str:
    """A pattern matching exactly these words in any case (JSON Schema patterns have no flags):
    ``("TX",)`` gives ``^(?:[Tt][Xx])$``."""
    spelled = ("".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word) for word in words)
    return f"^(?:{'|'.join(spelled)})$"


def _written_whole(schema: dict, alternatives: list[dict]) -> list[dict]:
    """Each alternative (``{"title", "properties", "required"}``) as a whole object schema: the
    model's properties with the alternative's own. Client generators make a class of each
    alternative and ignore the properties beside them; those stay for updates (``api.docs``)."""
    return [
        {
            "type": "object",
            "title": alternative["title"],
            "properties": {**schema["properties"], **alternative["properties"]},
            "required": sorted({*schema.get("required", []), *alternative.get("required", [])}),
            "additionalProperties": schema.get("additionalProperties", False),
        }
        for alternative in alternatives
    ]


def one_of_kinds(alternatives):
    """A model's ``json_schema_extra``: the body is one of ``alternatives`` (a kind of rule, step,
    trigger or task, each with what it takes), written whole."""

    def extra(schema: dict) -> None:
        schema["oneOf"] = _written_whole(schema, alternatives() if callable(alternatives) else alternatives)

    return extra


def _given(prop: dict, non_blank: bool, visible: bool = False) -> dict:
    """A property's schema when it must be given: no default, no null; non-blank text if asked
    (``visible``: with a character that is neither blank nor a control character, for ``line`` text,
    whose control characters become spaces)."""
    prop = {key: value for key, value in prop.items() if key != "default"}
    alternatives = [alternative for alternative in prop.pop("anyOf", []) if alternative != {"type": "null"}]
    if len(alternatives) == 1:
        prop.update(alternatives[0])
    elif alternatives:
        prop["anyOf"] = alternatives
    if non_blank and "pattern" not in prop:  # a pattern of its own admits no blank text (the email's)
        prop["pattern"] = VISIBLE_TEXT if visible else r"\S"
    return prop


# Text with a visible character: not blank once its control characters are folded to spaces (``line``).
VISIBLE_TEXT = f"^[^\\x00]*[^{WHITESPACE}\\x00-\\x1f\\x7f\\x85\\u2028\\u2029][^\\x00]*$"


def requires_one_of(*names: str, non_blank: bool = False, on_one_line: tuple[str, ...] = ()):
    """A model's ``json_schema_extra``: the body needs at least one of these fields (non-blank text,
    with ``non_blank``), one alternative per field, written whole (a bare ``anyOf`` of ``required``
    lists would become ``Any`` in a generated client). ``on_one_line``: those of the names that are
    ``line`` text."""

    def extra(schema: dict) -> None:
        title = schema.get("title", "Body")
        schema["anyOf"] = _written_whole(
            schema,
            [
                {
                    "title": f"{title} with {name}",
                    "properties": {name: _given(schema["properties"][name], non_blank, name in on_one_line)},
                    "required": [name],
                }
                for name in names
            ],
        )

    return extra
