"""The btyd feature group: the RFM it is fitted on, its refit schedule (a model is
never applied to a cutoff before the one it was fitted at), and its columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from socialcrm.features.btyd import COLUMNS, btyd_outputs
from socialcrm.models.btyd import rfm_from_transactions

from .conftest import build


def _rfm_by_hand(tx: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """RFM in weeks written out with plain pandas (an independent formula)."""
    tx = tx[(tx.timestamp < end) & ~tx.is_return]
    daily = tx.groupby(["customer_id", tx.timestamp.dt.normalize()]).amount.sum().reset_index()
    rows = []
    for cid, d in daily.groupby("customer_id"):
        d = d.sort_values("timestamp")
        first, last = d.timestamp.iloc[0], d.timestamp.iloc[-1]
        repeats = d.amount.iloc[1:]
        rows.append(
            {
                "customer_id": cid,
                "frequency": float(len(d) - 1),
                "recency": (last - first).days / 7,
                "T": ((end - pd.Timedelta(days=1)) - first).days / 7,
                "monetary_value": float(repeats.mean()) if len(repeats) else 0.0,
            }
        )
    return pd.DataFrame(rows)


def test_rfm_matches_an_independent_formula():
    rng = np.random.default_rng(4)
    n = 400
    tx = pd.DataFrame(
        {
            "customer_id": rng.choice([f"C{i}" for i in range(40)], n),
            "timestamp": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 300 * 24, n), unit="h"),
            "amount": rng.gamma(2.0, 20.0, n).round(2),
            "is_return": rng.random(n) < 0.1,
        }
    )
    end = pd.Timestamp("2024-09-01")
    got = rfm_from_transactions(tx, end).set_index("customer_id").sort_index()
    expected = _rfm_by_hand(tx, end).set_index("customer_id").sort_index()
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)


class _FakeModel:
    """Predicts the fitted cutoff's month number for every customer."""

    def __init__(self, fitted_at: pd.Timestamp):
        self.fitted_at = fitted_at

    def expected_purchases(self, rows, horizon):
        return np.full(len(rows), float(self.fitted_at.month + 12 * self.fitted_at.year))

    def probability_alive(self, rows):
        return np.full(len(rows), 0.5)

    def expected_spend(self, rows):
        return np.full(len(rows), 2.0)


def test_refits_on_schedule_and_never_uses_a_later_fit():
    cutoffs = pd.date_range("2024-01-01", periods=14, freq="MS")
    rfm = pd.DataFrame(
        [
            {"customer_id": c, "cutoff": k, "frequency": 1.0, "recency": 1.0, "T": 2.0}
            for k in cutoffs
            for c in ("a", "b")
        ]
    ).assign(monetary_value=10.0)
    fits = []

    def fit(rows):
        fits.append(pd.Timestamp(rows.cutoff.iloc[0]))
        return _FakeModel(fits[-1])

    out = btyd_outputs(rfm, 90, refit_every_months=6, fit=fit)
    assert fits == [
        pd.Timestamp("2024-01-01"),
        pd.Timestamp("2024-07-01"),
        pd.Timestamp("2025-01-01"),
    ]
    fitted_month = out.btyd_expected_purchases.to_numpy()
    cutoff_month = (out.cutoff.dt.month + 12 * out.cutoff.dt.year).to_numpy()
    assert (fitted_month <= cutoff_month).all()  # point in time: fitted on earlier data
    assert (cutoff_month - fitted_month < 6).all()
    np.testing.assert_allclose(out.btyd_clv, out.btyd_expected_purchases * 2.0)


def test_group_columns_in_the_feature_table(small_tables):
    ft = build(small_tables, ["features=crm", "features.groups=[crm,btyd]"])
    frame = ft.frame
    assert {s.name for s in ft.manifest if s.group == "btyd"} == set(COLUMNS)
    never_bought = frame.frequency_total.eq(0)
    assert frame.loc[never_bought, list(COLUMNS)].isna().all().all()
    bought = frame.loc[~never_bought]
    assert bought[list(COLUMNS)].notna().all().all()
    assert bought.btyd_p_alive.between(0, 1).all()
    np.testing.assert_allclose(
        bought.btyd_clv, bought.btyd_expected_purchases * bought.btyd_expected_spend, rtol=1e-4
    )
    # more purchases expected for customers who bought more in the last 90 days
    hi = bought.frequency_90d > bought.frequency_90d.median()
    assert bought.btyd_expected_purchases[hi].mean() > bought.btyd_expected_purchases[~hi].mean()
    # and it ranks the future spend well above chance
    rho = bought.btyd_clv.rank().corr(bought.label_future_spend.rank())
    assert rho > 0.4


def test_no_purchases_before_any_cutoff_gives_an_empty_typed_table():
    empty = pd.DataFrame(columns=["customer_id", "cutoff", "frequency", "recency", "T"])
    out = btyd_outputs(empty.assign(monetary_value=[]), 90, 6, fit=lambda rows: 1 / 0)
    assert out.empty and list(out.columns) == ["customer_id", "cutoff", *COLUMNS]
    assert out["cutoff"].dtype == "datetime64[us]" and out["btyd_clv"].dtype == float
