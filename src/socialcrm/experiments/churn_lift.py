"""Does social data predict churn better? The churn-social-lift experiment.

For each world (contagion on, and off as the negative control) and seed, the
synthetic world is generated with that seed, the full point-in-time feature
table is built once, and the churn model is fitted and tested on three nested
feature sets: ``crm``; ``crm+social`` (plus social activity and listening);
``all`` (plus the social graph and referrals). Every test AUC is set against
the recency rule and the **oracle AUC** of the generator's true churn
probabilities on the same test rows (:mod:`socialcrm.experiments.lift`).

Usage (writes ``experiments/churn-social-lift/results.csv`` and the table in its
README; about 15 minutes on 2 cores)::

    python -m socialcrm.experiments.churn_lift
    python -m socialcrm.experiments.churn_lift --seeds 2 model=logreg
"""

from __future__ import annotations

import typer
from sklearn.metrics import average_precision_score, roc_auc_score

from socialcrm.data.synthetic.truth import churn_probability
from socialcrm.experiments.lift import Lift, cli

SPEC = Lift(
    name="churn-social-lift",
    module="socialcrm.experiments.churn_lift",
    truth=churn_probability,
    label="label",
    oracle={"roc_auc": roc_auc_score, "pr_auc": average_precision_score},
    metric="roc_auc",
    versus=("crm", "crm+social"),
    worlds={"contagion on": (), "contagion off": ("experiment=no_contagion",)},
    metrics=(
        *("roc_auc", "pr_auc", "baseline_roc_auc", "oracle_roc_auc", "oracle_gap"),
        *("gain_vs_crm", "gain_vs_crm+social"),
    ),
    columns={
        "world": "world",
        "features": "features",
        "ROC-AUC": "roc_auc",
        "PR-AUC": "pr_auc",
        "recency rule ROC-AUC": "baseline_roc_auc",
        "oracle ROC-AUC": "oracle_roc_auc",
        "gap to oracle": "oracle_gap",
        "ROC-AUC gain vs crm (paired)": "gain_vs_crm",
        "gain vs crm+social (paired)": "gain_vs_crm+social",
    },
    spread=("roc_auc", "pr_auc", "gain_vs_crm", "gain_vs_crm+social"),
    logged=("roc_auc", "pr_auc", "oracle_gap"),
)
main = cli(SPEC)

if __name__ == "__main__":
    typer.run(main)
