"""The shared input types (webapp.validation), the one slugify (webapp.text) and the one pagination
rule (webapp.pagination)."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.factories import make_lead
from webapp.auth.access import MAX_ID
from webapp.models import Lead
from webapp.models.leads import MAX_TAG_LENGTH, STATUSES
from webapp.pagination import paginate
from webapp.text import slugify
from webapp.validation import (
    Money,
    RowId,
    StrictModel,
    Tag,
    Tags,
    ValidationFailed,
    choice,
    normalise_tag,
    optional,
    parse,
    text,
)


class Fields(StrictModel):
    name: text(10) = None
    slug: text(10, pattern=r"^[a-z]+$") = None
    status: optional(choice(STATUSES)) = None
    kind: choice(("a", "b")) = "a"
    row_id: RowId | None = None
    tag: Tag | None = None
    tags: Tags = []
    budget: Money = None


def errors_of(data: dict) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        parse(Fields, data)
    return {error["field"]: error["message"] for error in caught.value.errors}


# --- text -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_blank_text_is_none(blank):
    assert parse(Fields, {"name": blank}).name is None


def test_text_is_trimmed_and_bounded():
    assert parse(Fields, {"name": "  Maria  "}).name == "Maria"
    assert "at most 10 characters" in errors_of({"name": "x" * 11})["name"]


def test_text_may_not_hold_nul():
    assert errors_of({"name": "Ma\x00ria"}) == {"name": "must not contain NUL characters"}


def test_text_takes_further_constraints():
    assert parse(Fields, {"slug": "abc"}).slug == "abc"
    assert "slug" in errors_of({"slug": "Not a slug"})


# --- choices from a model's tuple -----------------------------------------------------------------


def test_a_choice_is_a_literal_of_the_tuple():
    assert parse(Fields, {"status": "qualified"}).status == "qualified"
    assert errors_of({"status": "purple"})["status"].startswith("Input should be 'new', 'contacted'")
    assert "status" in errors_of({"status": "NEW"})


def test_an_optional_choice_takes_blank_as_none_and_a_plain_one_does_not():
    assert parse(Fields, {"status": " "}).status is None
    assert "kind" in errors_of({"kind": ""})


def test_choices_are_documented_as_an_enum():
    assert Fields.model_json_schema()["properties"]["kind"]["enum"] == ["a", "b"]


# --- row ids --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -3, MAX_ID + 1, "first"])
def test_a_row_id_is_a_positive_32_bit_integer(bad):
    assert "row_id" in errors_of({"row_id": bad})


def test_the_largest_row_id_is_fine():
    assert parse(Fields, {"row_id": MAX_ID}).row_id == MAX_ID


# --- tags -----------------------------------------------------------------------------------------


def test_a_tag_is_trimmed_and_lower_cased():
    assert normalise_tag("  VIP ") == "vip"
    assert parse(Fields, {"tag": " Spanish "}).tag == "spanish"


def test_a_tag_is_at_most_the_column_length():
    assert normalise_tag("x" * MAX_TAG_LENGTH) == "x" * MAX_TAG_LENGTH
    with pytest.raises(ValueError, match=f"at most {MAX_TAG_LENGTH} characters"):
        normalise_tag("x" * (MAX_TAG_LENGTH + 1))
    assert errors_of({"tag": "x" * (MAX_TAG_LENGTH + 1)})["tag"] == f"tags are at most {MAX_TAG_LENGTH} characters"


def test_tags_are_a_sorted_set_from_a_list_or_comma_separated_text():
    assert parse(Fields, {"tags": "vip, Hot,,vip "}).tags == ["hot", "vip"]
    assert parse(Fields, {"tags": ["B", "a", " "]}).tags == ["a", "b"]
    assert parse(Fields, {"tags": None}).tags == []


def test_a_tag_that_is_too_long_is_reported_on_the_whole_field():
    assert errors_of({"tags": ["ok", "x" * (MAX_TAG_LENGTH + 1)]}) == {"tags": f"tags are at most {MAX_TAG_LENGTH} characters"}


# --- money ----------------------------------------------------------------------------------------


def test_money_has_two_decimal_places_and_blank_is_none():
    assert parse(Fields, {"budget": "1500.50"}).budget == Decimal("1500.50")
    assert parse(Fields, {"budget": ""}).budget is None
    assert set(errors_of({"budget": "12.345"})) == {"budget"}
    assert set(errors_of({"budget": -1})) == {"budget"}


# --- slugify --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Texas & Florida — homeowners!", "texas-florida-homeowners"),
        ("  High-Value Auto Leads  ", "high-value-auto-leads"),
        ("Quote follow-up (auto)", "quote-follow-up-auto"),
        ("ÄÖÜ", "fallback"),
        ("", "fallback"),
    ],
)
def test_slugify(name, slug):
    assert slugify(name, "fallback") == slug


def test_slugify_cuts_to_the_length_without_a_trailing_hyphen():
    assert slugify("abc def", "x", max_length=4) == "abc"
    assert slugify("a" * 300, "x") == "a" * 200


# --- pagination -----------------------------------------------------------------------------------


@pytest.fixture
def five_leads(org):
    return [make_lead(org, first_name=f"Lead {i}").id for i in range(5)]


def lead_query():
    return select(Lead).order_by(Lead.id)


def test_a_page_holds_its_slice_and_the_total(five_leads):
    page = paginate(lead_query(), 2, 2)
    assert ([lead.id for lead in page.items], page.total, page.page, page.pages) == (five_leads[2:4], 5, 2, 3)
    assert page.context("leads") == {"leads": page.items, "total": 5, "page": 2, "pages": 3}


@pytest.mark.parametrize("asked", [0, -7])
def test_a_page_below_one_is_the_first(five_leads, asked):
    assert [lead.id for lead in paginate(lead_query(), asked, 2).items] == five_leads[:2]


def test_a_page_past_the_last_is_the_last_for_pages_and_empty_for_the_api(five_leads):
    clamped = paginate(lead_query(), 9, 2)
    assert (clamped.page, [lead.id for lead in clamped.items]) == (3, five_leads[4:])
    beyond = paginate(lead_query(), 9, 2, clamp=False)
    assert (beyond.page, beyond.items, beyond.total) == (9, [], 5)


def test_an_empty_list_has_one_page(org):
    page = paginate(lead_query(), 3, 25)
    assert (page.items, page.total, page.page, page.pages) == ([], 0, 1, 1)


def test_rows_of_several_entities(five_leads):
    page = paginate(select(Lead, Lead.first_name).order_by(Lead.id), 1, 2, rows=True)
    assert [(row.Lead.id, row.first_name) for row in page.items] == [(five_leads[0], "Lead 0"), (five_leads[1], "Lead 1")]
