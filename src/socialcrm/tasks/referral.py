"""Customer referral value (CRV): the future value a customer brings through the
customers they referred, next to their own CLV."""

from __future__ import annotations

import pandas as pd

REFERRAL_COLUMNS = ("referrer_id", "referred_id", "timestamp")


def referral_value(
    clv: pd.DataFrame, referrals: pd.DataFrame, cutoff: pd.Timestamp | str
) -> pd.DataFrame:
    """Each customer's CLV, their CRV and the total.

    CRV is the sum of the predicted CLV (same horizon) of the customers this
    customer referred before ``cutoff``; a referred customer who is not in the
    scored population (gone before the cutoff) brings nothing.

    Parameters
    ----------
    clv
        ``customer_id`` and ``clv`` (predicted value in the horizon), one row
        per scored customer.
    referrals
        ``referrer_id``, ``referred_id``, ``timestamp``.
    cutoff
        Only referrals before it count.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, clv, n_referred, crv, total_value``, sorted by
        ``total_value`` (highest first).
    """
    missing = [c for c in ("customer_id", "clv") if c not in clv.columns]
    if missing:
        raise ValueError(f"the CLV table lacks columns {missing}")
    missing = [c for c in REFERRAL_COLUMNS if c not in referrals.columns]
    if missing:
        raise ValueError(f"the referrals table lacks columns {missing}")
    if clv["customer_id"].duplicated().any():
        raise ValueError("the CLV table has more than one row per customer")
    refs = referrals.loc[referrals["timestamp"] < pd.Timestamp(cutoff)]
    referred_clv = clv.set_index("customer_id")["clv"]
    brought = (
        refs.assign(value=refs["referred_id"].map(referred_clv).fillna(0.0))
        .groupby("referrer_id")
        .agg(n_referred=("referred_id", "size"), crv=("value", "sum"))
    )
    out = clv[["customer_id", "clv"]].join(brought, on="customer_id")
    out["n_referred"] = out["n_referred"].fillna(0).astype(int)
    out["crv"] = out["crv"].fillna(0.0)
    out["total_value"] = out["clv"] + out["crv"]
    return out.sort_values(
        ["total_value", "customer_id"], ascending=[False, True], ignore_index=True
    )


def missed_by_clv(values: pd.DataFrame, k: int = 100) -> tuple[int, pd.DataFrame]:
    """How many of the top ``k`` customers by CLV + CRV are not in the top ``k`` by CLV.

    Parameters
    ----------
    values
        :func:`referral_value`'s table.
    k
        Size of the top list.

    Returns
    -------
    (int, pandas.DataFrame)
        The number missed, and the top ``k`` by total value with ``rank_total``,
        ``rank_clv`` and ``in_clv_top``.
    """
    ranked = values.assign(
        rank_clv=values["clv"].rank(ascending=False, method="first").astype(int),
        rank_total=values["total_value"].rank(ascending=False, method="first").astype(int),
    )
    top = ranked[ranked["rank_total"] <= k].sort_values("rank_total", ignore_index=True)
    top["in_clv_top"] = top["rank_clv"] <= k
    return int((~top["in_clv_top"]).sum()), top
