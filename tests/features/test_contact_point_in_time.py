"""Next-best-offer rows are point in time: a contact carries its customer's features as of
the last cutoff at or before it, so events after the contact never change them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from socialcrm.tasks.nbo import contact_rows

from .conftest import build

CUTOFFS = [pd.Timestamp("2025-01-01"), pd.Timestamp("2025-04-01")]


def _features(ft) -> tuple[pd.DataFrame, list[str]]:
    columns = [s.name for s in ft.manifest if s.role == "feature"]
    return ft.frame, columns


def test_events_after_a_contact_change_none_of_its_features(tiny_tables):
    tables = {k: v.copy() for k, v in tiny_tables.items()}
    before, columns = _features(build(tables, cutoffs=CUTOFFS))
    log = tables["offer_log"]
    log = log[(log.timestamp >= CUTOFFS[0]) & (log.timestamp < pd.Timestamp("2025-06-01"))]
    assert len(log) > 20
    rows_before, counts = contact_rows(log, before, columns)
    assert counts["without_features"] < len(log)
    # every contact took the latest cutoff at or before it
    expected = np.where(rows_before.timestamp >= CUTOFFS[1], CUTOFFS[1], CUTOFFS[0])
    assert (rows_before.feature_cutoff.to_numpy() == expected.astype("datetime64[ns]")).all()
    assert not any(c.startswith("label_") for c in rows_before.columns)

    # heavy activity after the earliest contact, for every contacted customer
    first = log.timestamp.min()
    customers = log.customer_id.unique()
    extra = pd.DataFrame(
        {
            "transaction_id": [f"TX-AFTER-{i}" for i in range(len(customers))],
            "customer_id": customers,
            "timestamp": first + pd.Timedelta(hours=1),
            "amount": 5000.0,
            "is_return": False,
            "category": "fashion",
            "channel": "web",
        }
    )
    tx = tables["transactions"]
    tables["transactions"] = pd.concat([tx, extra.astype(tx.dtypes[extra.columns].to_dict())])
    after, _ = _features(build(tables, cutoffs=CUTOFFS))
    # the feature table did see the new events (at the later cutoff) ...
    late = after[after.cutoff == CUTOFFS[1]].set_index("customer_id").monetary_total
    early = before[before.cutoff == CUTOFFS[1]].set_index("customer_id").monetary_total
    assert (late.reindex(customers).fillna(0) > early.reindex(customers).fillna(0)).any()
    # ... yet contacts before the later cutoff keep every feature value
    rows_after, _ = contact_rows(log, after, columns)
    keep = rows_before.timestamp < CUTOFFS[1]
    assert keep.sum() > 10
    pd.testing.assert_frame_equal(
        rows_before[keep].reset_index(drop=True), rows_after[keep].reset_index(drop=True)
    )


def test_tenure_is_taken_at_the_contact_and_early_contacts_are_dropped():
    features = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "cutoff": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-02-01"]),
            "tenure_days": [100.0, 131.0, 10.0],
            "x": [1.0, 2.0, 3.0],
        }
    )
    log = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b"],
            "timestamp": pd.to_datetime(["2025-01-11", "2025-02-01", "2025-01-20", "2025-02-03"]),
            "offer_id": ["O1", None, "O1", "O1"],
            "propensity": [0.5, 0.5, 0.5, 0.5],
        }
    )
    rows, counts = contact_rows(log, features, ["tenure_days", "x"])
    assert counts == {"contacts": 4, "without_features": 1}  # b's first contact precedes b's rows
    got = rows.set_index(["customer_id", "timestamp"])
    assert got.loc[("a", pd.Timestamp("2025-01-11")), "x"] == 1.0
    assert got.loc[("a", pd.Timestamp("2025-01-11")), "tenure_days"] == 110.0
    assert got.loc[("a", pd.Timestamp("2025-02-01")), "x"] == 2.0  # a cutoff's own day: its row
    assert got.loc[("b", pd.Timestamp("2025-02-03")), "tenure_days"] == 12.0
