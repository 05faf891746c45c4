"""The observable contagion feature separates churners only when the world has contagion."""

from __future__ import annotations

import pandas as pd
import pytest

from socialcrm.data.schemas import TABLES

from .conftest import build

pytestmark = pytest.mark.xdist_group("worlds")


def _degree_adjusted_rate_ratio(frame: pd.DataFrame, exposure: str) -> float:
    """Churn rate ratio, exposed vs not, within quintiles of the number of customer
    neighbours (Mantel-Haenszel): more ties mean more chances of exposure, so
    compare customers with similar numbers of ties."""
    d = frame[frame.n_customer_neighbours > 0]
    strata = pd.qcut(d.n_customer_neighbours.rank(method="first"), 5, labels=False)
    num = den = 0.0
    for _, g in d.groupby(strata):
        exposed = g[exposure] > 0
        n = len(g)
        num += g.label_churn[exposed].sum() * (~exposed).sum() / n
        den += g.label_churn[~exposed].sum() * exposed.sum() / n
    return num / den


def _features(world) -> pd.DataFrame:
    tables = {name: world[name] for name in TABLES}
    ft = build(tables, ["features.cutoffs.every_months=2", "features=all"])
    consent = tables["customers"].set_index("customer_id").consent_social
    return ft.frame[ft.frame.customer_id.map(consent).astype(bool)]


def test_churned_neighbours_separate_churners_only_with_contagion(world, world_no_contagion):
    exposure = "n_recent_churned_neighbours_180d"
    on = _degree_adjusted_rate_ratio(_features(world), exposure)
    off = _degree_adjusted_rate_ratio(_features(world_no_contagion), exposure)
    assert on > 1.4, f"contagion on: rate ratio {on:.2f}"
    assert off < 1.3, f"contagion off: rate ratio {off:.2f}"
    assert on - off > 0.25
