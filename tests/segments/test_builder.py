"""The rule builder's form convention and rows (webapp/segments/builder.py), without HTTP."""

import pytest
from werkzeug.datastructures import MultiDict

from webapp.segments.builder import describe_rule, errors_by_row, requested_row, row_view, rules_from_form


def test_rules_come_from_numbered_rows_in_order_with_gaps():
    form = MultiDict(
        [
            ("match_all", "false"),
            ("rules-5-field", "value_estimate"),
            ("rules-5-operator", "greater_than"),
            ("rules-5-value", " 1000 "),
            ("rules-0-field", "insurance_type"),
            ("rules-0-operator", "in"),
            ("rules-0-value", "auto"),
            ("rules-0-value", "home"),
            ("rules-2-field", "state"),
            ("rules-2-operator", "not_in"),
            ("rules-2-value", "tx, CA,"),
        ]
    )
    assert rules_from_form(form) == (
        False,
        [
            {"field": "insurance_type", "operator": "in", "value": ["auto", "home"]},
            {"field": "state", "operator": "not_in", "value": ["tx", "CA"]},
            {"field": "value_estimate", "operator": "greater_than", "value": "1000"},
        ],
    )


def test_match_all_defaults_to_true_and_no_rows_is_no_rules():
    assert rules_from_form(MultiDict()) == (True, [])


@pytest.mark.parametrize(
    "mode, extra, value",
    [
        ("days", [("rules-0-amount", "7")], "7 days ago"),
        ("relative", [("rules-0-amount", "30"), ("rules-0-unit", "minutes")], "30 minutes ago"),
        ("relative", [("rules-0-amount", ""), ("rules-0-unit", "days")], ""),
        ("date", [("rules-0-value", "2024-06-01")], "2024-06-01"),
        ("datetime", [("rules-0-value", "2024-06-01T09:30")], "2024-06-01T09:30"),
    ],
)
def test_datetime_rows_post_a_date_or_a_relative_date(mode, extra, value):
    form = MultiDict([("rules-0-field", "created_at"), ("rules-0-operator", "less_than"), ("rules-0-mode", mode), *extra])
    assert rules_from_form(form)[1] == [{"field": "created_at", "operator": "less_than", "value": value}]


def test_tag_lists_merge_picked_tags_and_typed_ones():
    form = MultiDict([("rules-0-field", "tags"), ("rules-0-operator", "in"), ("rules-0-value", "vip"), ("rules-0-value", "hot, cold")])
    assert rules_from_form(form)[1][0]["value"] == ["vip", "hot", "cold"]


def test_errors_are_placed_on_their_rows_whatever_the_prefix():
    errors = [
        {"field": "rules[1].value", "message": "not a number"},
        {"field": "conditions.rules[0].operator", "message": "does not apply"},
        {"field": "rules", "message": "must be a list"},
        {"field": "name", "message": "is required"},
    ]
    rows, general = errors_by_row(errors)
    assert rows == {1: {"value": "not a number"}, 0: {"operator": "does not apply"}}
    assert general == ["must be a list", "name: is required"]


def test_describe_rule_in_words():
    assert describe_rule({"field": "value_estimate", "operator": "greater_than", "value": "1000"}) == "Value estimate is greater than 1000"
    assert describe_rule({"field": "tags", "operator": "in", "value": ["vip", "hot"]}) == "Tags has any of the tags vip, hot"


def test_a_row_offers_only_the_operators_and_widget_that_fit_its_field(app_ctx):
    enum = row_view(0, {"field": "status", "operator": "in", "value": ["new", "lost"]})
    assert [op["name"] for op in enum["operators"]] == ["equals", "not_equals", "in", "not_in"]
    assert (enum["widget"], enum["selected"]) == ("multiselect", ["new", "lost"])
    number = row_view(1, {"field": "value_estimate", "operator": "contains", "value": "5"})
    assert number["operator"] == "equals" and number["widget"] == "number"
    dates = row_view(2, {"field": "created_at", "operator": "less_than", "value": "7 days ago"})
    assert (dates["widget"], dates["mode"], dates["amount"]) == ("datetime", "days", "7")
    assert [op["name"] for op in dates["operators"]] == ["greater_than", "less_than", "equals"]


def test_changing_the_field_keeps_what_fits_and_drops_the_rest(app_ctx):
    to_number = requested_row(
        MultiDict(
            [("rules-3-field", "value_estimate"), ("rules-3-operator", "equals"), ("rules-3-value", "new"), ("rules-3-shown", "status")]
        )
    )
    assert (to_number["index"], to_number["widget"], to_number["text"]) == (3, "number", "")
    to_source = requested_row(
        MultiDict(
            [
                ("rules-0-field", "source"),
                ("rules-0-operator", "in"),
                ("rules-0-value", "website"),
                ("rules-0-value", "new"),
                ("rules-0-shown", "status"),
            ]
        )
    )
    assert to_source["selected"] == ["website"]  # "new" is no source: dropped
    to_priority = requested_row(
        MultiDict(
            [
                ("rules-0-field", "priority"),
                ("rules-0-operator", "in"),
                ("rules-0-value", "high"),
                ("rules-0-value", "new"),
                ("rules-0-shown", "status"),
            ]
        )
    )
    assert to_priority["selected"] == ["high"]
    added = requested_row(MultiDict([("add", "1"), ("rules-0-field", "status"), ("rules-4-field", "city")]))
    assert (added["index"], added["field"]) == (5, "status")
