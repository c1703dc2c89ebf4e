"""E.164 phone numbers (SPEC §17): lead phones are normalised when readable and kept when not; the
suppression list needs a readable number."""

import random

import phonenumbers
import pytest

from webapp.contactability.phones import e164_or_none, normalise_phone


@pytest.mark.parametrize(
    "text, expected",
    [
        ("(212) 555-1234", "+12125551234"),
        ("212.555.1234", "+12125551234"),
        ("1-212-555-1234", "+12125551234"),
        ("+1 212 555 1234", "+12125551234"),
        ("+44 20 7946 0958", "+442079460958"),
        ("2125551234 ext. 12", "+12125551234"),
    ],
)
def test_readable_numbers_become_e164(text, expected):
    assert e164_or_none(text) == expected
    assert normalise_phone(text) == expected


@pytest.mark.parametrize("text", ["", "   ", None, "abc", "12", "555-1234", "+999 123"])
def test_unreadable_numbers_are_none_for_the_suppression_list(text):
    assert e164_or_none(text) is None


@pytest.mark.parametrize("text", ["abc", "555-1234", " call me "])
def test_a_lead_phone_that_cannot_be_read_is_kept_as_given(text):
    assert normalise_phone(text) == text.strip()


def test_the_fast_path_for_plain_us_numbers_agrees_with_the_library():
    rng = random.Random(7)
    for _ in range(2000):
        digits = str(rng.randint(1_000_000_000, 19_999_999_999))
        number = None
        try:
            parsed = phonenumbers.parse(digits, "US")
            if phonenumbers.is_possible_number_with_reason(parsed) == phonenumbers.ValidationResult.IS_POSSIBLE:
                number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            pass
        assert e164_or_none(digits) == number, digits
