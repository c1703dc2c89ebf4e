"""Validation errors as sentences for people: what to enter, not what the parser expected.

Pydantic's messages ("Input should be a valid decimal") are written for programmers. A marketer
fixing a spreadsheet needs to be told what to type. ``human_errors()`` turns a ``ValidationError``
into the same ``{"field", "message"}`` list as ``validation.errors_from_pydantic`` (errors are
data), with one sentence per pydantic error type; the field is named where the message is shown
(``value_estimate: enter a number, like 1500 or 1500.50``).
"""

from decimal import Decimal

from pydantic import ValidationError

from .validation import errors_from_pydantic


def _amount(value) -> str:
    """``Decimal("999999999999")`` → ``999,999,999,999``."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    return f"{value:,}" if isinstance(value, Decimal | int | float) else str(value)


def _choices(ctx: dict) -> str:
    return ctx.get("expected", "").replace("'", "")


# pydantic error type -> the sentence (``ctx`` holds the bounds of the failed constraint).
SENTENCES = {
    **dict.fromkeys(
        ("decimal_parsing", "decimal_type", "float_parsing", "finite_number"), lambda ctx: "enter a number, like 1500 or 1500.50"
    ),
    "decimal_max_places": lambda ctx: f"use at most {ctx['decimal_places']} decimal places, like 1500.50",
    "decimal_max_digits": lambda ctx: f"enter a number of at most {ctx['max_digits']} digits",
    "decimal_whole_digits": lambda ctx: f"enter a number of at most {ctx['whole_digits']} digits before the decimal point",
    "greater_than_equal": lambda ctx: f"enter {_amount(ctx['ge'])} or more",
    "greater_than": lambda ctx: f"enter more than {_amount(ctx['gt'])}",
    "less_than_equal": lambda ctx: f"enter {_amount(ctx['le'])} or less",
    "less_than": lambda ctx: f"enter less than {_amount(ctx['lt'])}",
    **dict.fromkeys(("int_parsing", "int_type", "int_from_float"), lambda ctx: "enter a whole number, like 42"),
    **dict.fromkeys(("bool_parsing", "bool_type"), lambda ctx: "enter yes or no (true/false and 1/0 work too)"),
    **dict.fromkeys(("literal_error", "enum"), lambda ctx: f"choose one of: {_choices(ctx)}"),
    "string_too_long": lambda ctx: f"shorten it to at most {ctx['max_length']:,} characters",
    "string_too_short": lambda ctx: f"enter at least {ctx['min_length']:,} character{'s' if ctx['min_length'] != 1 else ''}",
    "string_pattern_mismatch": lambda ctx: "this value is not in the expected format",
    "string_type": lambda ctx: "enter text",
    "too_long": lambda ctx: f"give at most {ctx['max_length']:,} items",
    "list_type": lambda ctx: "enter a list of values, separated by commas",
    "missing": lambda ctx: "is required",
    "extra_forbidden": lambda ctx: "unknown field",
    **dict.fromkeys(("date_parsing", "date_from_datetime_parsing"), lambda ctx: "enter a date, like 2025-03-31"),
    **dict.fromkeys(("datetime_parsing", "datetime_from_date_parsing"), lambda ctx: "enter a date and time, like 2025-03-31T09:00:00Z"),
}


def human_message(error: dict) -> str:
    """The sentence for one pydantic error (an item of ``ValidationError.errors()``).

    Our own validators already raise sentences ("must be a US two-letter state code, e.g. TX"): their
    text is kept. A type without a sentence here keeps pydantic's message, lower-cased.
    """
    if error["type"] == "value_error":
        return str(error.get("ctx", {}).get("error") or error["msg"].removeprefix("Value error, "))
    sentence = SENTENCES.get(error["type"])
    if sentence is not None:
        try:
            return sentence(error.get("ctx") or {})
        except KeyError:
            pass  # a constraint without the bound we expected: pydantic's own words below
    message = error["msg"]
    return message[:1].lower() + message[1:]


def human_errors(exc: ValidationError, prefix: str = "") -> list[dict]:
    """``[{"field", "message"}]`` for a ``ValidationError``, each message a sentence for people."""
    return errors_from_pydantic(exc, prefix, message=human_message)
