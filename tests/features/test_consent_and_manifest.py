"""Consent is honoured, and the manifest describes exactly the columns built."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from socialcrm.features.config import SOCIAL_GROUPS

from .conftest import build


@pytest.fixture(scope="module")
def built(small_tables):
    return build(small_tables, ["features.cutoffs.every_months=6"])


def _social_columns(ft) -> list[str]:
    return [s.name for s in ft.manifest if s.group in SOCIAL_GROUPS]


def test_customers_without_consent_have_no_social_feature(small_tables, built):
    consent = small_tables["customers"].set_index("customer_id").consent_social
    frame = built.frame
    no = ~frame.customer_id.map(consent).to_numpy(dtype=bool)
    cols = _social_columns(built)
    assert no.sum() > 100 and (~no).sum() > 100
    assert frame.loc[no, cols].isna().all().all()  # null, not zero
    # consenting customers have values: zeros where nothing happened, not nulls
    counts = ["n_platforms", "n_posts_365d", "degree", "n_churned_neighbours", "n_complaints_90d"]
    assert frame.loc[~no, counts].notna().all().all()
    assert (frame.loc[~no, "n_platforms"] == 0).any() and (frame.loc[~no, "n_platforms"] > 0).any()


def test_non_consenting_customers_contribute_nothing_to_anyone(small_tables, built):
    """Drop, or scramble, every trace of non-consenting customers on social media:
    no feature of any customer changes."""
    consent = small_tables["customers"].set_index("customer_id").consent_social
    acc = small_tables["social_accounts"]
    theirs = acc.customer_id.notna() & ~acc.customer_id.map(consent).fillna(True).astype(bool)
    their_ids = set(acc.account_id[theirs])
    assert len(their_ids) > 100

    dropped = {k: v.copy() for k, v in small_tables.items()}
    dropped["social_accounts"] = acc[~theirs]
    posts = dropped["posts"]
    dropped["posts"] = posts[~posts.account_id.isin(their_ids)]
    e = dropped["social_edges"]
    dropped["social_edges"] = e[
        ~(e.src_account_id.isin(their_ids) | e.dst_account_id.isin(their_ids))
    ]

    scrambled = {k: v.copy() for k, v in small_tables.items()}
    p = scrambled["posts"]
    mine = p.account_id.isin(their_ids)
    p.loc[mine, "text"] = "worst service ever, I hate it, cancelling now!!"
    p.loc[mine, "likes"] = 10_000
    rng = np.random.default_rng(0)
    others = acc.account_id[~theirs].to_numpy()
    extra = pd.DataFrame(
        {
            "src_account_id": rng.choice(sorted(their_ids), 300),
            "dst_account_id": rng.choice(others, 300),
            "edge_type": "follow",
            "timestamp": pd.Timestamp("2024-01-01"),
        }
    ).astype(scrambled["social_edges"].dtypes.to_dict())
    scrambled["social_edges"] = pd.concat([scrambled["social_edges"], extra], ignore_index=True)

    cols = built.feature_names
    for variant in (dropped, scrambled):
        other = build(variant, ["features.cutoffs.every_months=6"])
        pd.testing.assert_frame_equal(
            built.frame[["customer_id", "cutoff", *cols]],
            other.frame[["customer_id", "cutoff", *cols]],
            check_exact=False,
            rtol=1e-9,
        )


def test_manifest_matches_the_columns(built):
    frame, manifest = built.frame, built.manifest
    assert list(frame.columns) == ["customer_id", "cutoff", "split", *(s.name for s in manifest)]
    for s in manifest:
        assert s.description and s.group and s.role in ("feature", "label")
        dtype = frame[s.name].dtype
        if s.dtype == "float":
            assert dtype == "float64", s.name
        elif s.dtype == "bool":
            assert dtype is np.dtype(bool), s.name
        else:
            assert dtype == "str", s.name
    assert {s.group for s in manifest} == {*SOCIAL_GROUPS, "crm", "referral", "btyd", "label"}


def test_feature_sets_switch_groups(small_tables):
    crm = build(small_tables, ["features=crm", "features.cutoffs.every_months=12"])
    groups = {s.group for s in crm.manifest}
    assert groups == {"crm", "label"}
    assert not any(c.startswith(("on_", "sentiment", "degree")) for c in crm.frame.columns)
    social = build(small_tables, ["features=crm_social", "features.cutoffs.every_months=12"])
    assert {s.group for s in social.manifest} == {
        "crm",
        "social_activity",
        "social_listening",
        "label",
    }


def test_split_is_by_time_and_purged(built):
    f = built.frame
    by = f.groupby("split").cutoff.agg(["min", "max"])
    horizon = pd.Timedelta(days=90)
    assert by.loc["train", "max"] + horizon <= by.loc["valid", "min"]
    assert by.loc["valid", "max"] + horizon <= by.loc["test", "min"]
    assert f.groupby("cutoff").split.nunique().max() == 1  # one split per snapshot


def test_crm_only_data_builds_with_empty_social_features(small_tables):
    crm_only = {k: small_tables[k] for k in ("customers", "transactions", "support_tickets")}
    ft = build(crm_only, ["features.cutoffs.every_months=12"])
    consenting = ft.frame.customer_id.map(
        small_tables["customers"].set_index("customer_id").consent_social
    )
    assert (ft.frame.loc[consenting, "n_platforms"] == 0).all()
    assert (ft.frame.n_contacts_365d == 0).all()
    assert ft.frame.frequency_365d.sum() > 0


def test_contract_end_needs_contract_data(small_tables):
    t = {k: v.copy() for k, v in small_tables.items()}
    t["customers"]["closed_at"] = pd.NaT
    with pytest.raises(ValueError, match=r"features\.churn\.definition=inactivity"):
        build(t)
