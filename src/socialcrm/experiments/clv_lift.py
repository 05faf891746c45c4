"""Do social and referral data improve CLV ranking? The clv-social-lift experiment.

For each seed the default synthetic world is generated with that seed, the full
point-in-time feature table is built once, and the CLV model is fitted and
tested on nested feature sets: ``crm``; ``crm+social`` (plus social activity
and listening); ``all`` (plus the social graph and referrals); and
``all+btyd`` (plus the BTYD model's outputs: the hybrid). Every test Gini is
set against the **oracle Gini** of the generator's true expected spend on the
same test rows, and against the commercial baseline and the BTYD model
(:mod:`socialcrm.experiments.lift`).

Usage (writes ``experiments/clv-social-lift/results.csv`` and the table in its
README; about 8 minutes on 2 cores)::

    python -m socialcrm.experiments.clv_lift
    python -m socialcrm.experiments.clv_lift --seeds 2 model=two_part
"""

from __future__ import annotations

from functools import partial

import typer

from socialcrm.data.synthetic.truth import expected_future_spend
from socialcrm.evaluation.value import normalized_gini, top_customers_found
from socialcrm.experiments.lift import FEATURE_SETS as SOCIAL_SETS
from socialcrm.experiments.lift import Lift, cli

FEATURE_SETS: dict[str, list[str]] = {**SOCIAL_SETS, "all+btyd": [*SOCIAL_SETS["all"], "btyd"]}
SPREAD = ("normalized_gini", "top20_found", "decile_mape", "rmse")

SPEC = Lift(
    name="clv-social-lift",
    module="socialcrm.experiments.clv_lift",
    truth=expected_future_spend,
    label="actual",
    oracle={
        "normalized_gini": normalized_gini,
        "top20_found": partial(top_customers_found, frac=0.2),
    },
    metric="normalized_gini",
    versus=("crm", None),
    feature_sets=FEATURE_SETS,
    overrides=("task=clv",),
    metrics=(
        *SPREAD,
        *("spearman", "oracle_normalized_gini", "oracle_gap", "oracle_top20_found"),
        *("gain_vs_crm", "gain_vs_previous", "baseline_normalized_gini", "btyd_normalized_gini"),
    ),
    columns={
        "features": "features",
        "normalized Gini": "normalized_gini",
        "top-20% found": "top20_found",
        "decile MAPE": "decile_mape",
        "RMSE": "rmse",
        "oracle Gini": "oracle_normalized_gini",
        "gap to oracle": "oracle_gap",
        "Gini gain vs crm (paired)": "gain_vs_crm",
        "vs previous set (paired)": "gain_vs_previous",
        "commercial baseline Gini": "baseline_normalized_gini",
        "BTYD Gini": "btyd_normalized_gini",
    },
    spread=(*SPREAD, "gain_vs_crm", "gain_vs_previous"),
    digits={"rmse": 1},
    logged=("normalized_gini", "top20_found", "oracle_gap"),
)
main = cli(SPEC)

if __name__ == "__main__":
    typer.run(main)
