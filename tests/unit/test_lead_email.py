"""A lead's address is checked as ``validate_email`` checks it, each domain once (``normalized_email``)."""

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.leads.schemas import normalized_email

# Plain characters, and those that make an address unusual: quotes, brackets, spaces, combining marks,
# upper case, IDNA, a full-width dot, special-use names.
LOCAL = st.text(alphabet="abcXYZ09.+_-!#'\"<>@ \\é\u0301\u0338", max_size=20)
LABEL = st.text(alphabet="abcXYZ09-_äß\u0301[]:。 ", min_size=0, max_size=12)
DOMAIN = st.one_of(
    st.lists(LABEL, min_size=1, max_size=4).map(".".join),
    st.sampled_from(["example.com", "EXAMPLE.com", "exämple.com", "example.test", "localhost", "b", "[127.0.0.1]", "xn--exmple-cua.com"]),
)
# Near the limits: 64 before the @-sign, 253 after it, 254 in all.
LONG = st.tuples(st.integers(1, 80), st.integers(1, 260)).map(lambda sizes: f"{'a' * sizes[0]}@{'b' * min(sizes[1], 63)}.{'c' * sizes[1]}")
ADDRESSES = st.one_of(st.emails(), st.tuples(LOCAL, DOMAIN).map("@".join), LONG, st.text(max_size=30))


def outcome(check, address: str):
    try:
        return check(address)
    except EmailNotValidError as exc:
        return type(exc), str(exc)


@settings(max_examples=3000, deadline=None)
@given(address=ADDRESSES)
def test_an_address_gets_what_validate_email_gives(address):
    assert outcome(normalized_email, address) == outcome(lambda a: validate_email(a, check_deliverability=False).normalized, address)


def test_the_part_before_the_at_sign_is_checked_in_every_address_of_a_known_domain():
    assert normalized_email("ann@Example.COM") == "ann@example.com"

    with pytest.raises(EmailNotValidError, match="cannot start with a period"):
        normalized_email(".bob@Example.COM")
    assert normalized_email("Postmaster@Example.COM") == "postmaster@example.com"
