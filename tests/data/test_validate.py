"""Pure table rules: DataFrames in, report out (no files)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from socialcrm.data.schemas import PLATFORMS, TABLES, pandera_schema
from socialcrm.data.validate import (
    DataContractError,
    PlausibleRange,
    ValidationReport,
    Violation,
    find_control_characters,
    find_invalid_utf8,
    plausibility_from_config,
    validate_tables,
)

from .conftest import AS_OF


def check(tables: dict[str, pd.DataFrame], **kw) -> ValidationReport:
    return validate_tables(tables, as_of=AS_OF, **kw)


def test_valid_tables_pass(tables):
    report = check(tables)
    assert report.ok, str(report)
    assert report.tables["transactions"] == 6
    assert "all rules hold" in str(report)


def test_nullable_foreign_keys_may_be_null(tables):
    # offer_log L2 has no offer (control) and account A3 belongs to no customer.
    assert tables["offer_log"]["offer_id"].isna().sum() == 1
    assert tables["social_accounts"]["customer_id"].isna().sum() == 1
    assert check(tables).ok


def test_self_referral(tables):
    tables["referrals"].loc[0, "referred_id"] = "C001"
    report = check(tables)
    [v] = report.find("self_referral")
    assert v.file == "referrals.parquet" and v.count == 1 and v.examples == [(1, "'C001'")]


def test_return_with_positive_amount(tables):
    tables["transactions"].loc[0, "is_return"] = True
    [v] = check(tables).find("return_with_positive_amount")
    assert v.column == "amount" and v.examples[0][0] == 1
    assert "amount=10.5, is_return=True" in v.examples[0][1]


def test_reference_to_absent_optional_table(tables):
    del tables["offers"]
    [v] = check(tables).find("foreign_key", "offer_log")
    assert "'offers', which is absent" in v.message and v.count == 2


def test_missing_required_table(tables):
    del tables["customers"]
    report = check(tables, files={"customers": "crm.csv"})
    [v] = report.find("missing_file")
    assert v.message == "crm.csv: required table 'customers' is missing"


def test_wrong_dtype_reported_once_per_column(tables):
    tables["social_accounts"]["followers"] = tables["social_accounts"]["followers"].astype(float)
    report = check(tables)
    assert report.rules() == ["wrong_type"]
    assert "has type float64, expected int64" in report.violations[0].message


def test_value_rules_from_pandera(tables):
    tables["support_tickets"].loc[0, "satisfaction"] = 9
    tables["offers"].loc[1, "offer_type"] = "lottery"
    report = check(tables)
    assert sorted(report.rules()) == ["invalid_value", "invalid_value"]
    assert any("satisfaction must be 1..5" in v.message for v in report.violations)
    assert any("'lottery'" in v.examples_text() for v in report.violations)


def test_missing_value_in_required_column(tables):
    tables["transactions"].loc[3, "timestamp"] = pd.NaT
    [v] = check(tables).find("missing_value")
    assert v.column == "timestamp" and v.examples == [(4, "<null>")]


def test_platforms_come_from_config(tables):
    assert check(tables, platforms=PLATFORMS).ok
    report = check(tables, platforms=["instagram", "x", "facebook"])
    [v] = report.find("unknown_platform", "social_accounts")
    assert v.examples == [(3, "'tiktok'")]
    assert len(report.find("unknown_platform", "posts")) == 1


def test_pandera_schema_platform_check_is_configurable():
    spec = TABLES["posts"]
    assert "isin" in str(pandera_schema(spec).columns["platform"].checks)
    assert not pandera_schema(spec, platforms=None).columns["platform"].checks


def test_invalid_utf8_in_object_column_is_found(tables):
    bad = pd.Series(["ok", "caf\udce9", None, 3], dtype=object)
    assert find_invalid_utf8(bad).tolist() == [False, True, False, False]
    tables["posts"]["text"] = pd.Series(["fine", "caf\udce9 secret", "fine"], dtype=object)
    [v] = check(tables).find("invalid_utf8")
    assert v.examples == [(2, "<value not shown>")]
    assert "secret" not in str(check(tables))


def test_every_violation_reported_and_error_lists_all(tables):
    tables["transactions"].loc[1, "transaction_id"] = "T1"
    tables["transactions"].loc[4, "customer_id"] = "C999"
    tables["posts"].loc[2, "account_id"] = "A999"
    tables["referrals"].loc[0, "timestamp"] = pd.Timestamp("2023-01-01")
    report = check(tables)
    assert sorted(report.rules()) == [
        "before_signup",
        "duplicate_key",
        "foreign_key",
        "foreign_key",
    ]
    with pytest.raises(DataContractError) as info:
        report.raise_if_failed()
    text = str(info.value)
    assert "4 violations" in text
    for v in report.violations:
        assert v.message in text


def test_source_columns_named_in_messages(tables):
    tables["transactions"].loc[4, "customer_id"] = "C999"
    report = check(tables, source_columns={"transactions": {"customer_id": "CustID"}})
    [v] = report.find("foreign_key")
    assert "column 'customer_id' (your column 'CustID')" in v.message


def test_merge_drops_nulls_already_reported_as_wrong_type():
    bad_type = Violation("t", "f.csv", "amount", "wrong_type", "m", 1, [(2, "'x'")], rows=[1])
    nulls = Violation(
        "t",
        "f.csv",
        "amount",
        "missing_value",
        "f.csv: empty in 2 rows",
        2,
        [(2, "<null>"), (5, "<null>")],
        rows=[1, 4],
    )
    merged = ValidationReport([bad_type]).merge(ValidationReport([nulls]))
    assert merged.rules() == ["wrong_type", "missing_value"]
    assert merged.violations[1].count == 1 and merged.violations[1].examples == [(5, "<null>")]
    assert merged.violations[1].message == "f.csv: empty in 1 row"
    only_bad = Violation(
        "t", "f.csv", "amount", "missing_value", "m3", 1, [(2, "<null>")], rows=[1]
    )
    assert ValidationReport([bad_type]).merge(ValidationReport([only_bad])).rules() == [
        "wrong_type"
    ]


def test_render_prints_table(tables):
    tables["transactions"].loc[2, "is_return"] = False
    tables["offers"].loc[0, "offer_type"] = "[bold]x[/]"  # data that looks like markup
    report = check(tables)
    console = Console(record=True, width=200)
    report.render(console)
    out = console.export_text()
    assert "negative_amount_without_return_flag" in out
    assert "transactions.parquet" in out and "row 3" in out and "FAILED" in out
    assert "'[bold]x[/]'" in out
    console = Console(record=True, width=200)
    ValidationReport(tables={"customers": 4}).render(console)
    assert "OK" in console.export_text()


# ----------------------------------------------------------------------------------------
# Values that would break a later stage; severities
# ----------------------------------------------------------------------------------------


def test_numbers_must_be_finite_and_storable(tables):
    tx = tables["transactions"]
    tx.loc[0, "amount"] = np.inf
    tx.loc[1, "amount"] = 1e17
    tx.loc[3, "amount"] = -np.inf  # not a return: reported once, as non_finite
    tables["support_tickets"].loc[0, "resolution_hours"] = 1e14
    report = check(tables)
    assert sorted(report.rules()) == ["non_finite", "out_of_range", "out_of_range"]
    [inf] = report.find("non_finite")
    assert inf.column == "amount" and inf.examples == [(1, "inf"), (4, "-inf")]
    [big] = report.find("out_of_range", "transactions")
    assert "below 1e16" in big.message and "DECIMAL(18, 2)" in big.message
    assert "below 1e14" in report.find("out_of_range", "support_tickets")[0].message


def test_control_characters_are_rejected(tables):
    tables["customers"].loc[1, "region"] = "so\x00uth"
    tables["posts"].loc[0, "text"] = "secret\x1b[31m text"
    tables["transactions"].loc[0, "category"] = "tab\tand\nnewline\rare fine"
    report = check(tables)
    assert report.rules() == ["control_character", "control_character"]
    region, text = report.violations
    assert region.examples == [(2, "'so\\x00uth'")] and "rejected, not stripped" in region.message
    assert text.examples == [(1, "<value not shown>")] and "secret" not in str(report)


def test_find_control_characters():
    values = pd.Series(["ok", "a\x00b", None, "\x7f", "tab\there", "\x1f"], dtype="str")
    assert find_control_characters(values).tolist() == [False, True, False, True, False, True]
    assert not find_control_characters(pd.Series([1.0, 2.0])).any()


def test_warnings_do_not_fail_the_report():
    warning = Violation("t", "f.csv", "amount", "implausible_value", "f.csv: big", 1,
                        [(3, "9999.0")], severity="warning")  # fmt: skip
    report = ValidationReport([warning], tables={"t": 5})
    assert report.ok and report.warnings == [warning] and not report.errors
    report.raise_if_failed()
    console = Console(record=True, width=200)
    report.render(console)
    out = console.export_text()
    assert "1 warning(s)" in out and "- warning: f.csv: big" in out
    assert "OK" in out and "FAILED" not in out and "row N = the Nth data row" in out
    assert "warning: f.csv: big" in str(report)
    error = Violation("t", "f.csv", "id", "duplicate_key", "f.csv: dup", 2, [(1, "'a'")])
    failed = ValidationReport([error, warning])
    assert not failed.ok and failed.errors == [error]
    with pytest.raises(DataContractError, match=r"\(1 violation\)"):
        failed.raise_if_failed()
    with pytest.raises(ValueError, match="severity"):
        Violation("t", "f.csv", None, "r", "m", severity="fatal")


def test_plausibility_bounds_report_with_their_severity(tables):
    ranges = {"amount": PlausibleRange(max=50), "quantity": PlausibleRange(min=2, severity="error")}
    report = check(tables, plausibility={"transactions": ranges})
    amount, quantity = report.find("implausible_value")
    assert amount.severity == "warning" and amount.examples == [(4, "99.99")]
    assert "plausible: at most 50, data.plausibility.transactions.amount" in amount.message
    assert quantity.severity == "error" and quantity.examples == [(1, "1"), (3, "1"), (6, "1")]
    assert not report.ok and report.errors == [quantity]
    assert check(tables, plausibility={"transactions": {"amount": PlausibleRange(max=50)}}).ok


def test_plausibility_config_is_checked():
    parsed = plausibility_from_config({"transactions": {"amount": {"min": -10, "max": 5000}}})
    assert parsed == {"transactions": {"amount": PlausibleRange(-10.0, 5000.0, "warning")}}
    assert plausibility_from_config(None) == {}
    for node, match in [
        ({"orders": {"amount": {"max": 1}}}, "unknown table"),
        ({"transactions": {"category": {"max": 1}}}, "not a numeric column"),
        ({"transactions": {"amount": {"maximum": 1}}}, "unknown keys"),
        ({"transactions": {"amount": {"max": 1, "severity": "fatal"}}}, "severity"),
        ({"transactions": {"amount": {"min": 5, "max": 1}}}, "min 5 is above max 1"),
        ({"transactions": {"amount": {"max": "lots"}}}, "must be a number"),
        ({"transactions": {"amount": {}}}, "give min, max or both"),
    ]:
        with pytest.raises(ValueError, match=match):
            plausibility_from_config(node)
