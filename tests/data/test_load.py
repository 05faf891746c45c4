"""Reading sources, coercion, privacy, ingest: every bad input fails and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from socialcrm.config import compose
from socialcrm.data import load
from socialcrm.data.example_export import example_identifiers
from socialcrm.data.privacy import hash_identifiers
from socialcrm.data.schemas import PANDAS_DTYPES, TABLES

from .conftest import (
    AS_OF,
    SALT,
    assert_nothing_written,
    canonical_source,
    edit_csv,
    ingest_fails,
    own_config,
)

SHARED_DATA = Path(compose([]).paths.shared_data_dir)
CDNOW = SHARED_DATA / "cdnow" / "CDNOW_master.txt"
HASH_COLUMNS = {"customers": ["email_hash", "phone_hash"], "social_accounts": ["handle_hash"]}


def assert_canonical(df: pd.DataFrame, name: str) -> None:
    spec = TABLES[name]
    assert list(df.columns) == spec.column_names
    for c in spec.columns:
        assert df[c.name].dtype == PANDAS_DTYPES[c.dtype], (name, c.name, df[c.name].dtype)


# ----------------------------------------------------------------------------------------
# One test per bad input: the specific message, and nothing written
# ----------------------------------------------------------------------------------------


def test_missing_file(own_source, tables):
    source, files = own_source(tables)
    files["transactions"].unlink()
    report = ingest_fails(source, r"orders\.csv: file for table 'transactions' not found")
    assert report.rules() == ["missing_file"]


def test_missing_required_table_not_configured(own_source, tables):
    source, _ = own_source(tables, ["data.tables.customers=null"])
    ingest_fails(source, r"no file is configured for the required table 'customers'")


def test_missing_column(own_source, tables):
    source, files = own_source(tables)
    df = pd.read_csv(files["transactions"], dtype=str).drop(columns=["OrderDate"])
    df.to_csv(files["transactions"], index=False)
    report = ingest_fails(
        source, r"orders\.csv: required column 'timestamp' \(mapped from your column 'OrderDate'\)"
    )
    assert report.rules() == ["missing_column"]


def test_wrong_type(own_source, tables):
    source, files = own_source(tables)
    edit_csv(files["support_tickets"], "2024-06-01 14:00:00", "01/06/2024")
    report = ingest_fails(
        source, r"tickets\.csv: column 'timestamp' \(your column 'OpenedAt'\): value that is not a "
    )
    [v] = report.find("wrong_type", "support_tickets")
    assert v.examples == [(2, "'01/06/2024'")] and "date_format" in v.message
    # The unparsed date is not reported a second time as an empty required value.
    assert report.rules() == ["wrong_type"]


def test_malformed_row_named_by_data_row(own_source, tables):
    source, files = own_source(tables)
    edit_csv(files["transactions"], ",20.0,", ",12,50,")  # an unquoted decimal comma: 9 fields
    edit_csv(files["transactions"], ",12.0,", ",12,0,")
    report = ingest_fails(source, r"orders\.csv: 2 rows with more fields than the header \(8\)")
    [v] = report.violations
    assert v.rule == "malformed_row" and v.count == 2
    # The parser counts the header as line 1; the report counts data rows.
    assert v.examples == [(2, "9 fields"), (5, "9 fields")]


def test_malformed_row_after_multiline_value(own_source, tables):
    source, files = own_source(tables)
    edit_csv(files["posts"], "P3,A2,x,", "P3,A2,x,x,")  # P2's text spans two lines
    [v] = ingest_fails(source, r"social_posts\.csv: 1 row with more fields").violations
    assert v.examples == [(3, "9 fields")]


def test_unreadable_file(own_source, tables):
    source, files = own_source(tables)
    files["offers"].write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    report = ingest_fails(source, r"offers\.csv: is not a text file \(binary content\)")
    assert report.rules() == ["unreadable_file"]  # and no foreign_key noise about offers


def test_wrong_type_number(own_source, tables):
    source, files = own_source(tables)
    edit_csv(files["transactions"], "00.000000,20.0,", "00.000000,twenty,")
    report = ingest_fails(
        source, r"orders\.csv: column 'amount' \(your column 'Amount'\): value that is not a number"
    )
    [v] = report.find("wrong_type")
    assert v.count == 1 and v.examples == [(2, "'twenty'")]
    assert report.rules() == ["wrong_type"]


def test_wrong_type_in_parquet(tmp_path, root, tables):
    tables["offers"]["cost"] = tables["offers"]["cost"].astype(str).str.replace("2.0", "free")
    source = canonical_source(tables, tmp_path / "canon", root)
    ingest_fails(source, r"offers\.parquet: column 'cost': value that is not a number in 1 row")


def test_duplicate_primary_key(own_source, tables):
    tables["transactions"].loc[1, "transaction_id"] = "T1"
    source, _ = own_source(tables)
    report = ingest_fails(
        source, r"orders\.csv: column 'transaction_id' \(your column 'OrderID'\): duplicate primary"
    )
    [v] = report.find("duplicate_key")
    assert v.count == 2 and [r for r, _ in v.examples] == [1, 2]


def test_foreign_key_to_unknown_customer(own_source, tables):
    tables["transactions"].loc[4, "customer_id"] = "C999"
    source, _ = own_source(tables)
    report = ingest_fails(
        source, r"orders\.csv: .*unknown customer_id \(not in customers, customers\.csv\) in 1 row"
    )
    assert report.find("foreign_key")[0].examples == [(5, "'C999'")]


def test_foreign_key_to_unknown_account(own_source, tables):
    tables["posts"].loc[1, "account_id"] = "A999"
    source, _ = own_source(tables)
    ingest_fails(source, r"social_posts\.csv: .*unknown account_id \(not in social_accounts")


def test_unknown_offer_id(own_source, tables):
    tables["offer_log"].loc[0, "offer_id"] = "O999"
    source, _ = own_source(tables)
    report = ingest_fails(source, r"campaign_log\.csv: .*unknown offer_id \(not in offers")
    assert report.rules() == ["foreign_key"]


def test_negative_amount_without_return_flag(own_source, tables):
    tables["transactions"].loc[2, "is_return"] = False
    source, _ = own_source(tables)
    report = ingest_fails(source, r"orders\.csv: .*negative amount without the return flag")
    [v] = report.find("negative_amount_without_return_flag")
    assert v.examples == [(3, "amount=-5.25, is_return=False")]


def test_timestamp_in_the_future(own_source, tables):
    tables["transactions"].loc[5, "timestamp"] = pd.Timestamp("2026-01-01")
    source, _ = own_source(tables)
    report = ingest_fails(
        source, r"orders\.csv: .*timestamp in the future \(after as_of 2025-06-30"
    )
    assert report.rules() == ["future_timestamp"]


def test_timestamp_before_signup(own_source, tables):
    tables["transactions"].loc[3, "timestamp"] = pd.Timestamp("2024-01-01")  # C003 signs up 03-15
    source, _ = own_source(tables)
    report = ingest_fails(source, r"orders\.csv: .*timestamp before the customer's signup_date")
    [v] = report.find("before_signup")
    assert v.examples == [(4, "timestamp=2024-01-01 00:00:00, signup_date=2024-03-15 00:00:00")]


def test_empty_table(own_source, tables):
    tables["support_tickets"] = tables["support_tickets"].iloc[:0]
    source, _ = own_source(tables)
    report = ingest_fails(source, r"tickets\.csv: table 'support_tickets' has no rows")
    assert report.rules() == ["empty_table"]


def test_text_not_valid_utf8(own_source, tables):
    source, files = own_source(tables)
    path = files["posts"]
    data = path.read_bytes()
    assert data.count(b"Service was slow") == 1
    path.write_bytes(data.replace(b"Service was slow", b"Servic\xe9 was slow"))
    report = ingest_fails(
        source, r"social_posts\.csv: column 'text' \(your column 'Text'\): text that is not valid"
    )
    [v] = report.find("invalid_utf8")
    assert v.examples == [(3, "<value not shown>")]
    assert "was slow" not in str(report)  # free text is never printed


def test_text_not_valid_utf8_in_parquet(tmp_path, root, tables):
    folder = tmp_path / "canon"
    source = canonical_source(tables, folder, root)
    table = pq.read_table(folder / "posts.parquet")
    raw = [t.encode() for t in tables["posts"]["text"]]
    raw[0] = b"caf\xe9"
    bad = pa.array(raw, type=pa.binary()).view(pa.string())
    table = table.set_column(table.schema.get_field_index("text"), "text", bad)
    pq.write_table(table, folder / "posts.parquet")
    report = ingest_fails(source, r"posts\.parquet: column 'text': text that is not valid UTF-8")
    assert report.find("invalid_utf8")[0].examples == [(1, "<value not shown>")]


def test_unknown_platform(own_source, tables):
    tables["social_accounts"].loc[1, "platform"] = "myspace"
    source, _ = own_source(tables)
    report = ingest_fails(source, r"social_profiles\.csv: .*unknown platform: platform must be one")
    assert report.find("unknown_platform")[0].examples == [(2, "'myspace'")]


def test_unknown_platform_follows_configured_list(own_source, tables):
    source, _ = own_source(tables, ["data.platforms=[instagram,x,facebook]"])
    report = ingest_fails(source, r"unknown platform")
    assert {v.file for v in report.violations} == {"social_profiles.csv", "social_posts.csv"}


def test_missing_salt_with_identifiers(own_source, tables, monkeypatch):
    monkeypatch.delenv("SOCIALCRM_SALT", raising=False)
    source, _ = own_source(tables, ["data.salt=null"])
    report = ingest_fails(
        source, r"customers\.csv: column 'email_hash' \(your column 'Email'\).*salt"
    )
    assert {v.column for v in report.find("missing_salt")} == {
        "email_hash",
        "phone_hash",
        "handle_hash",
    }
    assert "SOCIALCRM_SALT" in str(report)


def test_several_violations_all_reported(own_source, tables):
    tables["transactions"].loc[1, "transaction_id"] = "T1"
    tables["transactions"].loc[4, "customer_id"] = "C999"
    tables["transactions"].loc[2, "is_return"] = False
    tables["offer_log"].loc[0, "offer_id"] = "O999"
    tables["social_accounts"].loc[0, "platform"] = "myspace"
    source, files = own_source(tables)
    edit_csv(files["customers"], "2024-04-01 00:00:00", "someday")
    report = ingest_fails(source, r"\(6 violations\)")
    assert sorted(report.rules()) == sorted(
        [
            "wrong_type",
            "duplicate_key",
            "foreign_key",
            "negative_amount_without_return_flag",
            "foreign_key",
            "unknown_platform",
        ]
    )


# ----------------------------------------------------------------------------------------
# Valid data
# ----------------------------------------------------------------------------------------


def test_valid_canonical_parquet_ingests(tmp_path, root, tables):
    source = canonical_source(tables, tmp_path / "canon", root)
    rows = load.ingest(source)
    assert rows == {name: len(df) for name, df in tables.items()}
    interim = Path(source.interim_dir)
    assert sorted(p.name for p in interim.iterdir()) == sorted(
        [f"{t}.parquet" for t in tables] + ["_manifest.json"]
    )
    out = load.load_canonical(interim)
    for name, df in out.items():
        assert_canonical(df, name)
        pd.testing.assert_frame_equal(df, tables[name])
    manifest = json.loads((interim / "_manifest.json").read_text())
    assert manifest["tables"] == rows and manifest["as_of"] == "2025-06-30T00:00:00"
    assert manifest["source"] == "canonical"


def test_valid_canonical_csv_validates(tmp_path, root, tables):
    source = canonical_source(tables, tmp_path / "canon", root, file_format="csv")
    report = load.validate_source(source)
    assert report.ok, str(report)
    assert not Path(source.interim_dir).exists()  # validate never writes


def test_own_csv_round_trip(own_source, tables):
    source, files = own_source(tables)
    assert files["transactions"].name == "orders.csv"
    assert "OrderDate" in files["transactions"].read_text().splitlines()[0]
    rows = load.ingest(source)
    out = load.load_canonical(source.interim_dir)
    # own.yaml leaves social_edges and referrals out
    assert set(out) == set(tables) - {"social_edges", "referrals"} == set(rows)
    for name, df in out.items():
        assert_canonical(df, name)
        expected = tables[name].copy()
        raw = example_identifiers(name, tables[name])
        for kind, values in raw.items():
            hashed = TABLES[name].identifiers[kind]
            expected[hashed] = pd.Series(hash_identifiers(values, kind, SALT), dtype="str")
        pd.testing.assert_frame_equal(df, expected)
    assert out["customers"]["email_hash"].notna().sum() == 3


def test_own_parquet_round_trip(own_source, tables):
    names = {"customers": "customers", "transactions": "orders", "support_tickets": "tickets",
             "offers": "offers", "offer_log": "campaign_log", "social_accounts": "social_profiles",
             "posts": "social_posts"}  # fmt: skip
    overrides = [f"data.tables.{t}.file={stem}.parquet" for t, stem in names.items()]
    source, files = own_source(tables, overrides, file_format="parquet")
    assert {p.suffix for p in files.values()} == {".parquet"}
    load.ingest(source)
    out = load.load_canonical(source.interim_dir)
    for name, df in out.items():
        assert_canonical(df, name)
        keep = [c for c in df.columns if c not in HASH_COLUMNS.get(name, [])]
        pd.testing.assert_frame_equal(df[keep], tables[name][keep])
    handles = example_identifiers("social_accounts", tables["social_accounts"])["handle"]
    assert out["social_accounts"]["handle_hash"].tolist()[:3] == list(
        hash_identifiers(handles[:3], "handle", SALT)
    )


def test_european_export_with_read_options(own_source, tables):
    overrides = [
        '+data.tables.transactions.read={sep: ";", decimal: ",", thousands: "."}',
        "+data.tables.transactions.date_format=%d/%m/%Y %H:%M:%S.%f",
    ]
    source, files = own_source(tables, overrides)
    df = pd.read_csv(files["transactions"], dtype=str, keep_default_na=False)
    df["Amount"] = df["Amount"].str.replace(".", ",", regex=False)
    df.loc[3, "Amount"] = "1.099,99"  # thousands separator
    stamps = pd.to_datetime(df["OrderDate"], format="ISO8601")
    df["OrderDate"] = stamps.dt.strftime("%d/%m/%Y %H:%M:%S.%f")
    df.to_csv(files["transactions"], index=False, sep=";")
    load.ingest(source)
    tx = load.load_canonical(source.interim_dir)["transactions"]
    expected = tables["transactions"]["amount"].tolist()
    expected[3] = 1099.99
    assert tx["amount"].tolist() == expected
    pd.testing.assert_series_equal(tx["timestamp"], tables["transactions"]["timestamp"])


def test_crm_only_without_social_tables(own_source, tables):
    social = ["social_accounts", "social_edges", "posts"]
    crm = {k: v for k, v in tables.items() if k not in social}
    source, files = own_source(crm, [f"data.tables.{t}=null" for t in social])
    assert "social_accounts" not in files
    rows = load.ingest(source)
    assert set(rows) == {"customers", "transactions", "support_tickets", "offers", "offer_log"}
    assert set(load.load_canonical(source.interim_dir)) == set(rows)


def test_raw_identifiers_never_reach_interim(own_source, tables):
    source, files = own_source(tables)
    raw_values = [
        v
        for name in ("customers", "social_accounts")
        for values in example_identifiers(name, tables[name]).values()
        for v in values.dropna()
    ]
    assert len(raw_values) == 8
    export = b"".join(p.read_bytes() for p in files.values())
    assert all(v.encode() in export for v in raw_values)  # the export does carry them
    load.ingest(source)
    interim_files = [p for p in Path(source.interim_dir).rglob("*") if p.is_file()]
    assert len(interim_files) == 8
    blob = b"".join(p.read_bytes() for p in interim_files)
    for v in raw_values:
        for form in {v, v.lower(), v.lstrip("@"), v.lstrip("@").lower(), v.replace(" ", "")}:
            assert form.encode() not in blob, form
    assert SALT.encode() not in blob
    out = load.load_canonical(source.interim_dir)
    emails = example_identifiers("customers", tables["customers"])["email"]
    assert out["customers"]["email_hash"].tolist()[:2] == list(
        hash_identifiers(emails[:2], "email", SALT)
    )
    assert "email" not in out["customers"].columns and "phone" not in out["customers"].columns


def test_salt_from_environment(own_source, tables, monkeypatch):
    monkeypatch.setenv("SOCIALCRM_SALT", "env-salt")
    source, _ = own_source(tables, ["data.salt=null"])
    load.ingest(source)
    got = load.load_canonical(source.interim_dir)["social_accounts"]["handle_hash"].iloc[0]
    assert got == hash_identifiers(["@user_A1"], "handle", "env-salt")[0]


def test_blank_optional_values_use_defaults(own_source, tables):
    source, files = own_source(tables)
    df = pd.read_csv(files["posts"], dtype=str, keep_default_na=False).drop(columns=["Shares"])
    df["Likes"] = ["", "7", "NA"]
    df.to_csv(files["posts"], index=False)
    load.ingest(source)
    posts = load.load_canonical(source.interim_dir)["posts"]
    assert posts["likes"].tolist() == [0, 7, 0] and posts["shares"].tolist() == [0, 0, 0]
    assert posts["text"].tolist() == tables["posts"]["text"].tolist()


def test_ingest_replaces_previous_interim(tmp_path, root, tables):
    source = canonical_source(tables, tmp_path / "canon", root)
    load.ingest(source)
    (tmp_path / "canon" / "referrals.parquet").unlink()
    assert "referrals" not in load.ingest(source)
    assert not (Path(source.interim_dir) / "referrals.parquet").exists()
    # A failed ingest keeps the previous complete version.
    tables["transactions"].loc[0, "customer_id"] = "C999"
    tables["transactions"].to_parquet(tmp_path / "canon" / "transactions.parquet")
    with pytest.raises(load.DataContractError):
        load.ingest(source)
    assert load.read_manifest(source.interim_dir)["tables"]["transactions"] == 6


def test_synthetic_source_never_reads_truth(tmp_path, root, tables, monkeypatch):
    raw = tmp_path / "synthetic"
    for name, df in tables.items():
        raw.mkdir(exist_ok=True)
        df.to_parquet(raw / f"{name}.parquet", index=False)
    (raw / "truth").mkdir()
    (raw / "truth" / "customers.parquet").write_bytes(b"not parquet")
    seen: list[Path] = []
    real = load._read_file
    monkeypatch.setattr(load, "_read_file", lambda p, tf: seen.append(p) or real(p, tf))
    cfg = compose([f"paths.root_dir={root}", f"data.raw_dir={raw}", f"data.as_of={AS_OF}"])
    source = load.DataSource.from_config(cfg.data)
    assert source.source == "synthetic"
    assert set(load.ingest(source)) == set(tables)
    assert len(seen) == len(tables) and not any("truth" in p.parts for p in seen)


def test_synthetic_missing_tables_hint(tmp_path, root):
    cfg = compose([f"paths.root_dir={root}", f"data.raw_dir={tmp_path / 'none'}"])
    source = load.DataSource.from_config(cfg.data)
    report = load.validate_source(source)
    assert report.rules() == ["missing_file", "missing_file"]
    assert "socialcrm generate" in report.violations[0].message
    assert_nothing_written(source)


def test_config_typos_are_rejected(tmp_path, root):
    with pytest.raises(ValueError, match=r"unknown keys.*'colums'"):
        own_config(tmp_path, root, ["+data.tables.customers.colums={a: b}"])
    with pytest.raises(ValueError, match=r"unknown canonical columns.*'signup'"):
        own_config(tmp_path, root, ["data.tables.customers.columns.SignupDate=signup"])


# ----------------------------------------------------------------------------------------
# Transactions-only data: derive_customers, CDNOW
# ----------------------------------------------------------------------------------------

CDNOW_LIKE = (
    " customer_id  date number_of_cds  dollar_value\r\n"
    " 00001 19970101  1   11.77\r\n"
    " 00002 19970112  1   12.00\r\n"
    " 00002 19970112  5   77.00\r\n"
    " 00003 19970102  2   20.76\r\n"
    " 00003 19970330  2   20.76\r\n"
)


def test_derive_customers_from_transactions(tmp_path, root, monkeypatch):
    monkeypatch.delenv("SOCIALCRM_SALT", raising=False)  # no identifiers: no salt needed
    (tmp_path / "CDNOW_master.txt").write_text(CDNOW_LIKE)
    cfg = compose(["data=cdnow", f"paths.root_dir={root}", f"data.raw_dir={tmp_path}"])
    source = load.DataSource.from_config(cfg.data)
    assert source.derive_customers and source.salt is None
    rows = load.ingest(source)
    assert rows == {"customers": 3, "transactions": 5}
    out = load.load_canonical(source.interim_dir)
    cust, tx = out["customers"], out["transactions"]
    assert_canonical(cust, "customers")
    assert_canonical(tx, "transactions")
    assert cust["customer_id"].tolist() == ["00001", "00002", "00003"]
    assert cust["signup_date"].dt.strftime("%Y-%m-%d").tolist() == [
        "1997-01-01",
        "1997-01-12",
        "1997-01-02",
    ]
    assert not cust["consent_social"].any() and cust["region"].isna().all()
    assert tx["transaction_id"].tolist() == ["1", "2", "3", "4", "5"]
    assert tx["quantity"].tolist() == [1, 1, 5, 2, 2]
    assert tx["amount"].tolist() == [11.77, 12.0, 77.0, 20.76, 20.76]
    assert not tx["is_return"].any()
    assert load.read_manifest(source.interim_dir)["derived_customers"] is True


def test_derive_customers_conflicts_with_customers_file(tmp_path, root):
    with pytest.raises(ValueError, match="derive_customers"):
        own_config(tmp_path, root, ["data.derive_customers=true"])


@pytest.mark.shared_data
@pytest.mark.skipif(not CDNOW.is_file(), reason=f"real CDNOW data not found at {CDNOW}")
def test_cdnow_real_file(root):
    cfg = compose(["data=cdnow", f"paths.root_dir={root}", f"paths.shared_data_dir={SHARED_DATA}"])
    source = load.DataSource.from_config(cfg.data)
    rows = load.ingest(source)
    assert rows == {"customers": 23570, "transactions": 69659}
    tx = load.load_canonical(source.interim_dir)["transactions"]
    assert tx["timestamp"].min() == pd.Timestamp("1997-01-01")
    assert tx["timestamp"].max() == pd.Timestamp("1998-06-30")
    assert tx["customer_id"].str.len().eq(5).all()
    assert np.isclose(tx["amount"].iloc[0], 11.77)


# ----------------------------------------------------------------------------------------
# Values caught at the door; reading details
# ----------------------------------------------------------------------------------------


def coerce(values: list, table: str, column: str) -> tuple[pd.Series, list]:
    col = TABLES[table].column(column)
    return load.coerce_column(pd.Series(values), col, table=table, file="f.csv")


def test_non_finite_and_huge_numbers_become_null_and_are_named():
    out, found = coerce(["1.5", "inf", "-Infinity", "1e400", "1e17", "", "9e15"], "transactions",
                        "amount")  # fmt: skip
    assert [v.rule for v in found] == ["non_finite", "out_of_range"]
    assert found[0].examples == [(2, "'inf'"), (3, "'-Infinity'"), (4, "'1e400'")]
    assert found[1].examples == [(5, "'1e17'")]
    assert out.isna().tolist() == [False, True, True, True, True, True, False]


def test_integers_beyond_int64_are_out_of_range():
    out, found = coerce(["3", "1e20", "inf"], "transactions", "quantity")
    assert [v.rule for v in found] == ["non_finite", "out_of_range"]
    assert out.tolist()[0] == 3 and out.isna().tolist() == [False, True, True]
    big = pd.Series([2**64 - 1, 7], dtype="uint64")
    out, found = load.coerce_column(
        big, TABLES["transactions"].column("quantity"), table="transactions", file="f.parquet"
    )
    assert [v.rule for v in found] == ["out_of_range"] and out.tolist()[1] == 7


@pytest.mark.parametrize(
    ("values", "flagged"),
    [
        (["2024-01-01 10:00", "2024-01-01T10:00+02:00", "2024-01-02"], [2]),
        (["2024-01-01T10:00Z", "2024-01-01T11:00Z", "2024-01-01 12:00"], [3]),
        (["2024-01-01T10:00+02:00", "2024-01-01T10:00:00.5-0130"], []),
        (["2024-01-01", "2024-05-31", "2024-12-01 00:00"], []),  # dates have no offset
    ],
)
def test_mixed_timezones(values, flagged):
    _, found = coerce(values, "transactions", "timestamp")
    mixed = [v for v in found if v.rule == "mixed_timezones"]
    assert [r for v in mixed for r, _ in v.examples] == flagged
    assert not [v for v in found if v.rule == "wrong_type"]


def test_control_characters_in_raw_identifiers(own_source, tables):
    source, files = own_source(tables)
    edit_csv(files["social_accounts"], "@user_A2", "@user\x00_A2")
    report = ingest_fails(source, r"social_profiles\.csv: column 'handle_hash' \(your column")
    [v] = report.find("control_character")
    assert v.examples == [(2, "<value not shown>")] and "user" not in str(report)


@pytest.mark.parametrize(
    ("options", "before"),
    [
        ({}, 1),
        ({"header": None}, 0),
        ({"names": ["a", "b"]}, 0),
        ({"header": 2}, 3),
        ({"skiprows": 4}, 5),
        ({"skiprows": [0, 3]}, None),
    ],
)
def test_records_before_data(options, before):
    assert load._records_before_data(options) == before


def test_tab_separator_written_as_escape():
    tf = load.TableFile.from_config("transactions", {"file": "x.tsv", "read": {"sep": "\\t"}})
    assert tf.read["sep"] == "\t"


def test_plausibility_from_data_config(tmp_path, root):
    node = "data.plausibility={transactions: {amount: {max: 100, severity: error}}}"
    source = own_config(tmp_path, root, [node])
    assert source.plausibility["transactions"]["amount"].severity == "error"
    assert own_config(tmp_path, root).plausibility == {}
    with pytest.raises(ValueError, match=r"data\.plausibility\.transactions\.category"):
        own_config(tmp_path, root, ["data.plausibility={transactions: {category: {max: 1}}}"])


def test_warnings_do_not_stop_ingest(own_source, tables):
    node = "data.plausibility={transactions: {amount: {max: 50}}}"
    source, _ = own_source(tables, [node])
    from rich.console import Console

    console = Console(record=True, width=200)
    rows = load.ingest(source, console=console)
    assert rows["transactions"] == 6
    out = console.export_text()
    assert "implausible_value" in out and "row 4: 99.99" in out and "OK" in out


def test_repeated_header_of_an_unused_column_is_ignored(own_source, tables):
    source, files = own_source(tables)
    df = pd.read_csv(files["transactions"], dtype=str, keep_default_na=False)
    df["Note"], df["Note2"] = "a", "b"
    df.to_csv(files["transactions"], index=False)
    edit_csv(files["transactions"], ",Note2\n", ",Note\n")
    assert load.validate_source(source).ok  # unmapped columns are never read
