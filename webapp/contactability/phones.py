"""Phone numbers in E.164 (SPEC §17), read with ``phonenumbers`` (Google's libphonenumber rules):
numbers without a country code are read as US numbers.

Lead phones are normalised on save, and a phone that cannot be read is kept as the vendor sent it
(``normalise_phone`` returns it unchanged); the suppression list needs a valid number
(``e164_or_none`` says None and the caller answers 422)."""

import re

import phonenumbers

DEFAULT_REGION = "US"

# A plain 10-digit North American number (optionally with the leading 1), the common case of lead
# forms and the national DNC file: NXX-NXX-XXXX, area code and exchange not starting with 0 or 1.
_PLAIN_NANP = re.compile(r"1?([2-9]\d{2}[2-9]\d{6})")
_SEPARATORS = str.maketrans("", "", " -.()")


def e164_or_none(text: str | None, region: str = DEFAULT_REGION) -> str | None:
    """The number in E.164 (``+15551234567``), or None if it is not a valid phone number."""
    if not text or not text.strip():
        return None
    digits = text.strip().translate(_SEPARATORS)
    plain = _PLAIN_NANP.fullmatch(digits)
    if plain and region == "US":  # a fast path for the bulk of the data, the same answer as below
        return "+1" + plain.group(1)
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None  # impossible, or a local number without its area code ("555-1234")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone(text: str | None, region: str = DEFAULT_REGION) -> str | None:
    """A lead's phone as stored: E.164 when it can be read, else as given (stripped)."""
    if text is None:
        return None
    return e164_or_none(text, region) or text.strip()
