"""A tiny valid canonical Social CRM data set, built in code, and helpers to load it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import pytest

from socialcrm.config import compose
from socialcrm.data import load
from socialcrm.data.example_export import write_example_export
from socialcrm.data.schemas import PANDAS_DTYPES, TABLES

AS_OF = "2025-06-30"
SALT = "test-salt"
NA = None


def canonical_frame(name: str, data: dict[str, list]) -> pd.DataFrame:
    """A DataFrame with exactly the canonical columns of ``name``, in canonical dtypes."""
    spec = TABLES[name]
    assert set(data) == set(spec.column_names), set(data) ^ set(spec.column_names)
    cols = {}
    for c in spec.columns:
        values = data[c.name]
        if c.dtype == "timestamp":
            cols[c.name] = pd.Series(
                pd.to_datetime(values, format="ISO8601"), dtype="datetime64[us]"
            )
        else:
            cols[c.name] = pd.Series(values, dtype=PANDAS_DTYPES[c.dtype])
    return pd.DataFrame(cols)


def make_tables() -> dict[str, pd.DataFrame]:
    """Four customers with every kind of record; every rule holds."""
    return {
        "customers": canonical_frame(
            "customers",
            {
                "customer_id": ["C001", "C002", "C003", "C004"],
                "signup_date": ["2024-01-01", "2024-02-01 10:30", "2024-03-15", "2024-04-01"],
                "region": ["north", "south", NA, "NA"],
                "age_band": ["25-34", "35-44", "65+", NA],
                "acquisition_channel": ["organic", "referral", "referral", "paid_search"],
                "plan": ["basic", "plus", "premium", "basic"],
                "email_hash": ["e1", "e2", NA, "e4"],
                "phone_hash": ["p1", NA, "p3", NA],
                "consent_social": [True, True, False, True],
                "closed_at": [NA, NA, "2025-01-10", NA],
            },
        ),
        "transactions": canonical_frame(
            "transactions",
            {
                "transaction_id": ["T1", "T2", "T3", "T4", "T5", "T6"],
                "customer_id": ["C001", "C001", "C002", "C003", "C004", "C002"],
                "timestamp": [
                    "2024-01-05 12:00:00.123456",
                    "2024-02-01",
                    "2024-02-03 08:15",
                    "2024-04-01",
                    "2024-04-02 23:59:59",
                    "2024-05-01",
                ],
                "amount": [10.5, 20.0, -5.25, 99.99, 12.0, 7.1],
                "is_return": [False, False, True, False, False, False],
                "category": ["books", "music", "books", NA, "games", "music"],
                "channel": ["web", "store", "web", "app", "web", "web"],
                "quantity": [1, 2, 1, NA, 3, 1],
            },
        ),
        "support_tickets": canonical_frame(
            "support_tickets",
            {
                "ticket_id": ["K1", "K2"],
                "customer_id": ["C001", "C002"],
                "timestamp": ["2024-03-01 09:00", "2024-06-01 14:00"],
                "category": ["billing", "delivery"],
                "resolution_hours": [4.5, NA],
                "satisfaction": [5, NA],
            },
        ),
        "offers": canonical_frame(
            "offers",
            {
                "offer_id": ["O1", "O2"],
                "offer_type": ["discount", "retention_call"],
                "channel": ["email", "phone"],
                "cost": [0.5, 2.0],
                "margin": [0.3, 0.5],
                "eligible_plans": ["basic|plus", NA],
                "min_tenure_days": [0, 90],
                "description": ["10% off, this week", NA],
            },
        ),
        "offer_log": canonical_frame(
            "offer_log",
            {
                "log_id": ["L1", "L2", "L3"],
                "customer_id": ["C001", "C002", "C004"],
                "timestamp": ["2024-05-01", "2024-05-02", "2024-05-03"],
                "offer_id": ["O1", NA, "O2"],
                "channel": ["email", NA, "phone"],
                "propensity": [0.4, 0.5, 0.1],
                "response": [True, False, False],
                "revenue": [25.0, 0.0, 0.0],
            },
        ),
        "social_accounts": canonical_frame(
            "social_accounts",
            {
                "account_id": ["A1", "A2", "A3", "A4"],
                "platform": ["instagram", "x", "tiktok", "facebook"],
                "customer_id": ["C001", "C002", NA, "C004"],
                "handle_hash": ["h1", "h2", "h3", NA],
                "followers": [120, 5, 3000, 0],
                "created_at": ["2023-05-01", NA, "2022-01-01", NA],
                "follows_brand": [True, False, True, False],
            },
        ),
        "social_edges": canonical_frame(
            "social_edges",
            {
                "src_account_id": ["A1", "A2", "A3"],
                "dst_account_id": ["A2", "A1", "A1"],
                "edge_type": ["follow", "mention", "reply"],
                "timestamp": ["2024-02-01", "2024-03-01", "2024-04-01"],
            },
        ),
        "posts": canonical_frame(
            "posts",
            {
                "post_id": ["P1", "P2", "P3"],
                "account_id": ["A1", "A3", "A2"],
                "platform": ["instagram", "tiktok", "x"],
                "timestamp": ["2024-05-05 10:00", "2024-05-06", "2024-05-07 18:30"],
                "text": [
                    "Love the new plan! 😀, really",
                    'two\nlines, "quoted" and ; semicolons',
                    "Service was slow; NA",
                ],
                "likes": [10, 0, 1],
                "shares": [2, 0, 0],
                "mentions_brand": [True, False, True],
            },
        ),
        "referrals": canonical_frame(
            "referrals",
            {
                "referrer_id": ["C001"],
                "referred_id": ["C003"],
                "timestamp": ["2024-03-15"],
            },
        ),
    }


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    return make_tables()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A project root for paths.* (data/interim lands under it)."""
    r = tmp_path / "root"
    r.mkdir()
    return r


def own_config(raw: Path, root: Path, overrides: Sequence[str] = ()) -> load.DataSource:
    cfg = compose(
        [
            "data=own",
            f"data.raw_dir={raw}",
            f"paths.root_dir={root}",
            f"data.salt={SALT}",
            f"data.as_of={AS_OF}",
            *overrides,
        ]
    )
    return load.DataSource.from_config(cfg.data)


@pytest.fixture
def own_source(
    tmp_path: Path, root: Path
) -> Callable[..., tuple[load.DataSource, dict[str, Path]]]:
    """Write ``tables`` as the own.yaml vendor export and return its DataSource and files."""

    def make(
        tables: dict[str, pd.DataFrame],
        overrides: Sequence[str] = (),
        file_format: str = "csv",
    ) -> tuple[load.DataSource, dict[str, Path]]:
        raw = tmp_path / "export"
        files = write_example_export(tables, raw, file_format=file_format)
        return own_config(raw, root, overrides), files

    return make


def canonical_source(
    tables: dict[str, pd.DataFrame], folder: Path, root: Path, file_format: str = "parquet"
) -> load.DataSource:
    """Write canonical tables to ``folder`` and return a ``canonical`` DataSource for it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        if file_format == "parquet":
            df.to_parquet(folder / f"{name}.parquet", index=False)
        else:
            df.to_csv(folder / f"{name}.csv", index=False)
    cfg = compose([f"paths.root_dir={root}", f"data.salt={SALT}", f"data.as_of={AS_OF}"])
    return load.DataSource.from_config(cfg.data).with_raw_dir(folder)


def assert_nothing_written(source: load.DataSource) -> None:
    """The interim folder does not exist and no temporary folder was left next to it."""
    interim = Path(source.interim_dir)
    assert not interim.exists(), f"{interim} was written"
    parent = interim.parent
    if parent.exists():
        leftovers = [p.name for p in parent.iterdir() if p.name.startswith(f".{interim.name}")]
        assert not leftovers, leftovers


def ingest_fails(source: load.DataSource, match: str) -> load.ValidationReport:
    """Ingest must raise DataContractError matching ``match`` and write nothing."""
    with pytest.raises(load.DataContractError, match=match) as info:
        load.ingest(source)
    assert_nothing_written(source)
    assert not info.value.report.ok
    return info.value.report


#: The stems of the own.yaml export files, for reading the export as Parquet.
EXPORT_STEMS = {
    "customers": "customers",
    "transactions": "orders",
    "support_tickets": "tickets",
    "offers": "offers",
    "offer_log": "campaign_log",
    "social_accounts": "social_profiles",
    "posts": "social_posts",
}


def parquet_overrides() -> list[str]:
    """Overrides that point own.yaml at the Parquet variant of the example export."""
    return [f"data.tables.{t}.file={stem}.parquet" for t, stem in EXPORT_STEMS.items()]


def tree_digest(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``folder`` (hidden ones too)."""
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def edit_csv(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must occur once) in a CSV file."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, (old, text.count(old))
    path.write_text(text.replace(old, new), encoding="utf-8")
