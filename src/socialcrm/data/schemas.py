"""The contract of every canonical Social CRM table, in one place.

Each table is described once by a :class:`TableSpec` (columns, primary key,
foreign keys, time rules, identifiers to hash); the pandera schema used on load
is built from that description by :func:`pandera_schema`. The synthetic
generator writes these tables, the own-data loader maps a user's exports onto
them, and every later stage reads them.

Conventions
-----------
- Identifiers are strings (``customer_id``, ``account_id``, ...), so that a
  user's own ids such as ``"CUST-0042"`` survive unchanged.
- Timestamps are naive UTC ``datetime64[us]``.
- Numbers are finite, and money and durations fit the fixed-point decimals the
  feature SQL casts them to (``max_abs``): a value that passes here never
  breaks a later stage.
- Optional columns may be absent from a user's export; the loader adds them
  as all-null columns so that every canonical table always has every column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandera.pandas as pa

PLATFORMS: tuple[str, ...] = ("instagram", "x", "facebook", "telegram", "linkedin", "tiktok")
AGE_BANDS: tuple[str, ...] = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
OFFER_TYPES: tuple[str, ...] = ("discount", "bundle", "upgrade", "loyalty", "retention_call")
EDGE_TYPES: tuple[str, ...] = ("follow", "mention", "reply")

#: Columns holding a social platform; their values are checked against the
#: configured ``data.platforms`` list (default :data:`PLATFORMS`), see :func:`pandera_schema`.
PLATFORM_COLUMN = "platform"
PLATFORM_DESCRIPTION = "social platform; one of the configured data.platforms"
#: Start of the platform check's error text (validation reports it as ``unknown_platform``).
PLATFORM_ERROR = "platform must be one of"

#: Largest magnitude (exclusive) of a DECIMAL(18, 2): the feature SQL casts amounts and
#: revenue to it (``t.amount::DECIMAL(18, 2)`` in features/crm.py, labels.py, ...).
DECIMAL_18_2_MAX = 1e16
#: Largest magnitude (exclusive) of a DECIMAL(18, 4) (``resolution_hours`` in features/crm.py).
DECIMAL_18_4_MAX = 1e14
#: Largest magnitude (exclusive) of the int64 the integer columns are stored as.
INT64_MAX = 2.0**63

# Canonical logical dtypes and the pandas dtype each one is stored as.
PANDAS_DTYPES: dict[str, str] = {
    "string": "str",
    "timestamp": "datetime64[us]",
    "float": "float64",
    "int": "int64",
    "nullable_int": "Int64",
    "bool": "bool",
}


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column.

    Parameters
    ----------
    name
        Canonical column name.
    dtype
        Logical type, a key of :data:`PANDAS_DTYPES`.
    required
        Whether a user's export must contain the column. Optional columns are
        added as nulls (or ``default``) when absent.
    nullable
        Whether missing values are allowed.
    checks
        Extra pandera checks on the values.
    default
        Value used to fill an absent optional non-nullable column.
    description
        What the column holds, for reports and documentation.
    max_abs
        Numbers only: the magnitude (exclusive) a value must stay below because a
        later stage cannot represent more (``None``: any finite value).
    max_abs_reason
        Why ``max_abs`` is the limit, for the report.
    """

    name: str
    dtype: str
    required: bool = True
    nullable: bool = False
    checks: tuple[pa.Check, ...] = ()
    default: object = None
    description: str = ""
    max_abs: float | None = None
    max_abs_reason: str = ""

    @property
    def is_numeric(self) -> bool:
        """Whether the column holds numbers (float or integer)."""
        return self.dtype in ("float", "int", "nullable_int")

    @property
    def limit(self) -> tuple[float, str] | None:
        """``(magnitude, why)`` every value must stay below, or ``None`` (not a number,
        or any finite value is fine)."""
        if self.max_abs is not None:
            return self.max_abs, self.max_abs_reason
        if self.dtype in ("int", "nullable_int"):
            return INT64_MAX, "it is stored as a 64-bit integer"
        return None


@dataclass(frozen=True)
class ForeignKey:
    """``column`` must hold a value of ``ref_table.ref_column`` (nulls are allowed
    when the column is nullable)."""

    column: str
    ref_table: str
    ref_column: str


@dataclass(frozen=True)
class TableSpec:
    """One canonical table and its rules.

    Parameters
    ----------
    name
        Canonical table name (also the file stem: ``customers.parquet``).
    columns
        Canonical columns in order.
    primary_key
        Columns that together identify a row (must be unique), or empty.
    foreign_keys
        References to other tables.
    required
        Whether every data set must have the table. Optional tables may be
        missing (for example no social data at all: the pipeline runs CRM-only).
    customer_column
        Column naming the customer whose ``signup_date`` bounds the
        ``not_before_signup`` columns.
    not_before_signup
        Timestamp columns that may not precede that customer's signup date.
    text_columns
        Free-text columns (checked for valid UTF-8; never logged).
    identifiers
        Raw personal identifiers a user's export may carry, mapped to the
        canonical hashed column they become at load (raw ``email`` becomes
        ``email_hash``). The raw value never reaches ``data/interim``.
    description
        What one row is.
    """

    name: str
    columns: tuple[ColumnSpec, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    required: bool = False
    customer_column: str | None = None
    not_before_signup: tuple[str, ...] = ()
    text_columns: tuple[str, ...] = ()
    identifiers: dict[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def timestamp_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.dtype == "timestamp"]

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no canonical column {name!r}")


def _c(name: str, dtype: str, **kw: object) -> ColumnSpec:
    return ColumnSpec(name, dtype, **kw)  # type: ignore[arg-type]


def _nonneg() -> tuple[pa.Check, ...]:
    return (pa.Check.ge(0, error="must be >= 0"),)


def _money() -> dict[str, object]:
    """The storage limit of a money column (the feature SQL sums it as DECIMAL(18, 2))."""
    return {
        "max_abs": DECIMAL_18_2_MAX,
        "max_abs_reason": "the features compute with it as DECIMAL(18, 2)",
    }


TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            name="customers",
            description="one row per customer (the CRM master record)",
            required=True,
            primary_key=("customer_id",),
            customer_column="customer_id",
            columns=(
                _c("customer_id", "string"),
                _c("signup_date", "timestamp"),
                _c("region", "string", required=False, nullable=True),
                _c(
                    "age_band",
                    "string",
                    required=False,
                    nullable=True,
                    checks=(
                        pa.Check.isin(AGE_BANDS, error=f"age band must be one of {AGE_BANDS}"),
                    ),
                ),
                _c("acquisition_channel", "string", required=False, nullable=True),
                _c("plan", "string", required=False, nullable=True),
                _c("email_hash", "string", required=False, nullable=True),
                _c("phone_hash", "string", required=False, nullable=True),
                _c(
                    "consent_social",
                    "bool",
                    required=False,
                    default=False,
                    description="customer agreed to link their social accounts; absent means no",
                ),
                _c(
                    "closed_at",
                    "timestamp",
                    required=False,
                    nullable=True,
                    description="explicit end of contract, if the customer closed the account",
                ),
            ),
            not_before_signup=("closed_at",),
            identifiers={"email": "email_hash", "phone": "phone_hash"},
        ),
        TableSpec(
            name="transactions",
            description="one purchase or return",
            required=True,
            primary_key=("transaction_id",),
            foreign_keys=(ForeignKey("customer_id", "customers", "customer_id"),),
            customer_column="customer_id",
            not_before_signup=("timestamp",),
            columns=(
                _c("transaction_id", "string"),
                _c("customer_id", "string"),
                _c("timestamp", "timestamp"),
                _c(
                    "amount",
                    "float",
                    description="negative for returns (with is_return)",
                    **_money(),
                ),
                _c("is_return", "bool", required=False, default=False),
                _c("category", "string", required=False, nullable=True),
                _c("channel", "string", required=False, nullable=True),
                _c("quantity", "nullable_int", required=False, nullable=True, checks=_nonneg()),
            ),
        ),
        TableSpec(
            name="support_tickets",
            description="one customer-service ticket",
            primary_key=("ticket_id",),
            foreign_keys=(ForeignKey("customer_id", "customers", "customer_id"),),
            customer_column="customer_id",
            not_before_signup=("timestamp",),
            columns=(
                _c("ticket_id", "string"),
                _c("customer_id", "string"),
                _c("timestamp", "timestamp"),
                _c("category", "string", required=False, nullable=True),
                _c(
                    "resolution_hours",
                    "float",
                    required=False,
                    nullable=True,
                    checks=_nonneg(),
                    description="time to resolve; null while unresolved",
                    max_abs=DECIMAL_18_4_MAX,
                    max_abs_reason="the features compute with it as DECIMAL(18, 4)",
                ),
                _c(
                    "satisfaction",
                    "nullable_int",
                    required=False,
                    nullable=True,
                    checks=(pa.Check.in_range(1, 5, error="satisfaction must be 1..5"),),
                    description="post-resolution survey score 1..5; null if not answered",
                ),
            ),
        ),
        TableSpec(
            name="offers",
            description="the offer catalog",
            primary_key=("offer_id",),
            columns=(
                _c("offer_id", "string"),
                _c(
                    "offer_type",
                    "string",
                    checks=(
                        pa.Check.isin(
                            OFFER_TYPES, error=f"offer type must be one of {OFFER_TYPES}"
                        ),
                    ),
                ),
                _c("channel", "string", required=False, nullable=True),
                _c("cost", "float", checks=_nonneg(), description="cost per contact"),
                _c(
                    "margin",
                    "float",
                    checks=(pa.Check.in_range(0, 1, error="margin must be a rate in [0, 1]"),),
                    description="gross margin rate on the revenue a response brings",
                ),
                _c(
                    "eligible_plans",
                    "string",
                    required=False,
                    nullable=True,
                    description="'|'-separated plans the offer may go to; null means every plan",
                ),
                _c("min_tenure_days", "int", required=False, default=0, checks=_nonneg()),
                _c("description", "string", required=False, nullable=True),
            ),
        ),
        TableSpec(
            name="offer_log",
            description="one contact decision of the logging policy and its outcome",
            primary_key=("log_id",),
            foreign_keys=(
                ForeignKey("customer_id", "customers", "customer_id"),
                ForeignKey("offer_id", "offers", "offer_id"),
            ),
            customer_column="customer_id",
            not_before_signup=("timestamp",),
            columns=(
                _c("log_id", "string"),
                _c("customer_id", "string"),
                _c("timestamp", "timestamp"),
                _c(
                    "offer_id", "string", nullable=True, description="null means no offer (control)"
                ),
                _c("channel", "string", required=False, nullable=True),
                _c(
                    "propensity",
                    "float",
                    checks=(
                        pa.Check.gt(0, error="propensity must be > 0"),
                        pa.Check.le(1, error="propensity must be <= 1"),
                    ),
                    description="probability the logging policy chose the logged action",
                ),
                _c("response", "bool", description="purchase within the response window"),
                _c("revenue", "float", checks=_nonneg(), **_money()),
            ),
        ),
        TableSpec(
            name="social_accounts",
            description="one account on one platform; customer_id null for non-customers",
            primary_key=("account_id",),
            foreign_keys=(ForeignKey("customer_id", "customers", "customer_id"),),
            columns=(
                _c("account_id", "string"),
                _c("platform", "string", description=PLATFORM_DESCRIPTION),
                _c("customer_id", "string", nullable=True),
                _c("handle_hash", "string", required=False, nullable=True),
                _c("followers", "int", required=False, default=0, checks=_nonneg()),
                _c("created_at", "timestamp", required=False, nullable=True),
                _c("follows_brand", "bool", required=False, default=False),
            ),
            identifiers={"handle": "handle_hash"},
        ),
        TableSpec(
            name="social_edges",
            description="a follow, mention or reply from one account to another",
            primary_key=("src_account_id", "dst_account_id", "edge_type", "timestamp"),
            foreign_keys=(
                ForeignKey("src_account_id", "social_accounts", "account_id"),
                ForeignKey("dst_account_id", "social_accounts", "account_id"),
            ),
            columns=(
                _c("src_account_id", "string"),
                _c("dst_account_id", "string"),
                _c(
                    "edge_type",
                    "string",
                    checks=(
                        pa.Check.isin(EDGE_TYPES, error=f"edge type must be one of {EDGE_TYPES}"),
                    ),
                ),
                _c("timestamp", "timestamp"),
            ),
        ),
        TableSpec(
            name="posts",
            description="one public post or comment",
            primary_key=("post_id",),
            foreign_keys=(ForeignKey("account_id", "social_accounts", "account_id"),),
            text_columns=("text",),
            columns=(
                _c("post_id", "string"),
                _c("account_id", "string"),
                _c("platform", "string", description=PLATFORM_DESCRIPTION),
                _c("timestamp", "timestamp"),
                _c("text", "string"),
                _c("likes", "int", required=False, default=0, checks=_nonneg()),
                _c("shares", "int", required=False, default=0, checks=_nonneg()),
                _c("mentions_brand", "bool", required=False, default=False),
            ),
        ),
        TableSpec(
            name="referrals",
            description="one customer brought in by another",
            primary_key=("referred_id",),
            foreign_keys=(
                ForeignKey("referrer_id", "customers", "customer_id"),
                ForeignKey("referred_id", "customers", "customer_id"),
            ),
            customer_column="referrer_id",
            not_before_signup=("timestamp",),
            columns=(
                _c("referrer_id", "string"),
                _c("referred_id", "string"),
                _c("timestamp", "timestamp"),
            ),
        ),
    )
}

#: Tables the synthetic generator writes; every one is present in the default.
CANONICAL_TABLES: tuple[str, ...] = tuple(TABLES)
SOCIAL_TABLES: tuple[str, ...] = ("social_accounts", "social_edges", "posts")


def pandera_schema(
    spec: TableSpec,
    platforms: Sequence[str] | None = PLATFORMS,
    *,
    check_primary_key: bool = True,
) -> pa.DataFrameSchema:
    """Build the pandera schema that checks one canonical table's columns.

    Cross-table rules (foreign keys, signup order) and file-level rules
    (missing file, UTF-8) are checked in :mod:`socialcrm.data.validate`.

    Parameters
    ----------
    spec
        The table's contract.
    platforms
        Allowed values of ``platform`` columns (``data.platforms`` of the data
        config); ``None`` skips the platform check.
    check_primary_key
        Whether the schema also checks that the primary key is unique
        (:mod:`socialcrm.data.validate` checks it itself, with row numbers).
    """
    columns = {}
    for c in spec.columns:
        checks = list(c.checks)
        if c.name == PLATFORM_COLUMN and platforms is not None:
            allowed = tuple(platforms)
            checks.append(pa.Check.isin(allowed, error=f"{PLATFORM_ERROR} {list(allowed)}"))
        columns[c.name] = pa.Column(
            PANDAS_DTYPES[c.dtype],
            checks=checks,
            nullable=c.nullable,
            coerce=False,
            required=True,
            description=c.description or None,
        )
    return pa.DataFrameSchema(
        columns,
        name=spec.name,
        strict=False,
        unique=(list(spec.primary_key) or None) if check_primary_key else None,
        report_duplicates="all",
    )
