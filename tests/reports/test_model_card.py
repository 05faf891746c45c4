"""The model card: bootstrap intervals against independent computations, slice
suppression, and a card of a real small churn fit (every section, JSON round trip,
Markdown, no customer id or secret)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from socialcrm.reports import model_card as mc

pytestmark = pytest.mark.xdist_group("production")


def mean_of_x(rows: pd.DataFrame, outputs: pd.DataFrame) -> dict[str, float]:
    return {"mean": float(rows["x"].mean()), "n": float(len(rows))}


def auc_of_score(rows: pd.DataFrame, outputs: pd.DataFrame) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    y = rows["y"].to_numpy()
    if len(np.unique(y)) < 2:
        return {"roc_auc": math.nan}
    return {"roc_auc": float(roc_auc_score(y, outputs["score"]))}


# -- intervals --------------------------------------------------------------------


def test_bootstrap_interval_of_a_mean_matches_the_t_interval():
    rng = np.random.default_rng(1)
    x = rng.normal(10.0, 2.0, 400)
    rows, outputs = pd.DataFrame({"x": x}), pd.DataFrame(index=range(400))
    got = mc.bootstrap_intervals(rows, outputs, mean_of_x, ["mean", "absent"], n_boot=2000)
    assert list(got["metric"]) == ["mean"]  # keys the metric function lacks are left out
    half = stats.t.ppf(0.975, 399) * x.std(ddof=1) / math.sqrt(400)
    r = got.iloc[0]
    assert r["value"] == pytest.approx(x.mean())
    assert r["lower"] == pytest.approx(x.mean() - half, abs=0.12 * half)
    assert r["upper"] == pytest.approx(x.mean() + half, abs=0.12 * half)


def test_bootstrap_interval_of_roc_auc_holds_the_true_auc():
    # binormal scores: the true AUC is Phi(d / sqrt(2))
    rng = np.random.default_rng(7)
    n, d = 800, 1.0
    y = rng.random(n) < 0.3
    score = rng.normal(d * y, 1.0)
    true_auc = stats.norm.cdf(d / math.sqrt(2))
    got = mc.bootstrap_intervals(
        pd.DataFrame({"y": y.astype(int)}),
        pd.DataFrame({"score": score}),
        auc_of_score,
        ["roc_auc"],
        n_boot=300,
    ).iloc[0]
    assert got["lower"] < true_auc < got["upper"]
    # the width agrees with Hanley & McNeil's standard error
    a, n1, n0 = got["value"], y.sum(), (~y).sum()
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = math.sqrt((a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n1 * n0))
    assert got["upper"] - got["lower"] == pytest.approx(2 * 1.96 * se, rel=0.25)


def test_grouped_bootstrap_resamples_whole_customers():
    # every customer's row three times: resampling rows understates the spread by sqrt(3)
    rng = np.random.default_rng(3)
    x = np.repeat(rng.normal(0, 1, 300), 3)
    ids = np.repeat([f"C{i:04d}" for i in range(300)], 3)
    rows, outputs = pd.DataFrame({"x": x, "customer_id": ids}), pd.DataFrame(index=range(900))
    by_row = mc.bootstrap_intervals(rows, outputs, mean_of_x, ["mean"], n_boot=1000, seed=2)
    by_customer = mc.bootstrap_intervals(
        rows, outputs, mean_of_x, ["mean"], n_boot=1000, seed=2, groups=ids
    )
    width = lambda t: float(t["upper"].iloc[0] - t["lower"].iloc[0])  # noqa: E731
    assert width(by_customer) / width(by_row) == pytest.approx(math.sqrt(3), rel=0.15)
    for idx in mc.resample_indices(900, 5, np.random.default_rng(0), ids):
        picked = pd.Series(ids[idx]).value_counts()
        assert len(idx) == 900 and (picked % 3 == 0).all()


# -- slices -----------------------------------------------------------------------


def test_tenure_bands():
    days = [0, 182, 183, 364, 365, 729, 730, 5000, np.nan]
    assert list(mc.tenure_band(days).astype(str)) == [
        "< 6 months",
        "< 6 months",
        "6-12 months",
        "6-12 months",
        "1-2 years",
        "1-2 years",
        "2+ years",
        "2+ years",
        "unknown",
    ]
    assert mc.tenure_band(400) == "1-2 years"


def test_small_slices_show_no_number_and_no_name():
    rng = np.random.default_rng(0)
    levels = np.array(["big"] * 100 + ["rare_b"] * 30 + ["rare_c"] * 20)
    rows = pd.DataFrame({"x": rng.normal(size=150)})
    table = mc.slice_metrics(
        rows, pd.DataFrame(index=rows.index), mean_of_x, {"segment": levels}, ["mean"], 50
    )
    assert list(table["level"]) == ["big", "2 levels"]
    big, pooled = table.iloc[0], table.iloc[1]
    assert big["n"] == 100 and big["mean"] == pytest.approx(rows["x"][:100].mean())
    assert pd.isna(pooled["n"]) and np.isnan(pooled["mean"]) and pooled["note"] == "n < 50"
    assert "rare" not in table.to_string()


def test_default_slices_take_consent_by_customer_or_aligned():
    rows = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "plan": ["basic", None, "plus"],
            "tenure_days": [10.0, 400.0, 1000.0],
        },
        index=[5, 6, 7],
    )
    by_id = mc.default_slices(rows, {"C1": True, "C2": False})
    assert list(by_id) == ["plan", "tenure band", "consent"]
    assert list(by_id["plan"]) == ["basic", "unknown", "plus"]
    assert list(by_id["consent"]) == ["consented", "not consented", "unknown"]
    aligned = mc.default_slices(rows, pd.Series([False, True, True], index=rows.index))
    assert list(aligned["consent"]) == ["not consented", "consented", "consented"]


# -- summaries --------------------------------------------------------------------


def test_calibration_summary_flags_only_gaps_beyond_chance():
    table = pd.DataFrame(
        {
            "bin": [0, 1, 2, 3],
            "mean_predicted": [0.05, 0.10, 0.20, 0.40],
            "observed_rate": [0.06, 0.09, 0.21, 0.25],
            "n": [400, 400, 400, 30],
        }
    )
    got = mc.calibration_summary(table, min_rows=50)
    gaps = np.abs(table.mean_predicted - table.observed_rate)
    assert got["ece"] == pytest.approx(float((gaps * table.n).sum() / table.n.sum()))
    # bin 3's gap is large but it has 30 rows: neither shown nor flagged
    assert [r["bin"] for r in got["table"]] == [0, 1, 2] and got["flagged_bins"] == []
    table.loc[3, "n"] = 400
    assert [r["bin"] for r in mc.calibration_summary(table)["flagged_bins"]] == [3]


def test_baseline_without_signal_follows_the_null_standard_error():
    # Mann-Whitney null sd on 1000 rows, 100 positive: sqrt(1001 / (12 * 100 * 900))
    se = math.sqrt(1001 / (12 * 100 * 900))
    within = mc.baseline_without_signal({"roc_auc": 0.5 + 1.9 * se}, 1000, 100)
    assert [w["metric"] for w in within] == ["roc_auc"]
    assert within[0]["half_width"] == pytest.approx(1.959964 * se)
    assert mc.baseline_without_signal({"roc_auc": 0.5 + 2.1 * se}, 1000, 100) == []
    assert [w["metric"] for w in mc.baseline_without_signal({"spearman": 0.02}, 1000, None)] == [
        "spearman"
    ]


def test_task_defaults_fall_back_to_the_question_for_a_new_task():
    task = SimpleNamespace(name="upsell", question="Who buys the next plan up?")
    got = mc.task_defaults(task)
    assert got.primary_uses == ("Who buys the next plan up?",)
    assert got.out_of_scope == mc.COMMON_OUT_OF_SCOPE
    assert mc.task_defaults(SimpleNamespace(name="churn", intended_use=["x"])).primary_uses == (
        "x",
    )


def test_privacy_problems_find_ids_and_secrets_but_not_counts():
    text = "| plan | 1,062 | C0042 |"
    assert mc.privacy_problems(text, ["C0042", "C0043"], ["s3cret-salt"]) == ["1 customer id(s)"]
    assert mc.privacy_problems(text + " s3cret-salt", [], ["s3cret-salt"]) == ["a secret value"]
    assert mc.privacy_problems(text, ["1", "62"], ["ab"]) == []


# -- a card of a real fit ------------------------------------------------------------


@pytest.fixture(scope="module")
def churn_fit(quick_world, tmp_path_factory):
    from socialcrm import runner
    from socialcrm.config import compose
    from socialcrm.explain.shap_values import global_importance, group_importance

    cfg = compose(
        quick_world.overrides(
            tmp_path_factory.mktemp("card_store"), "features=crm_social", "task.explain=false"
        )
    )
    prepared = runner.prepare(cfg)
    result, _ = runner.fit(prepared)
    task = prepared.task
    rows = task.evaluation_rows(
        prepared.frame, prepared.manifest, prepared.groups, {}, int(cfg.seed), prepared.context
    )
    outputs = result.model.scores(rows)
    # SHAP on a few rows stands in for the run edge's render step (explain=false above)
    expl = result.model.explanation(result.model.frame(rows.head(300)))
    result.tables["shap_importance"] = global_importance(expl)
    result.tables["shap_groups"] = group_importance(
        expl, {m["name"]: m["group"] for m in prepared.manifest}
    )
    customers = pd.read_parquet(Path(cfg.data.interim_dir) / "customers.parquet")
    consent = customers.set_index("customer_id")["consent_social"]
    card = mc.build_model_card(
        task,
        result,
        prepared.manifest,
        rows,
        outputs,
        data=mc.data_summary(
            prepared.frame, prepared.dataset_name, "0" * 64, int(cfg.features.horizon_days)
        ),
        model={
            "name": "socialcrm-churn",
            "version": "1",
            "alias": "champion",
            "model_type": str(cfg.model.name),
            "run_id": "0123abcd",
            "model_uri": "models:/m-0123abcd",
        },
        groups=prepared.groups,
        consent=consent,
        n_boot=100,
    )
    return SimpleNamespace(
        cfg=cfg, task=task, result=result, rows=rows, outputs=outputs, card=card, consent=consent
    )


def test_the_card_holds_every_section(churn_fit):
    card, rows = churn_fit.card, churn_fit.rows
    d = card.to_dict()
    assert d["schema"] == mc.SCHEMA
    for section in (
        "model_details",
        "intended_use",
        "data",
        "features",
        "quantitative_analysis",
        "explanation",
        "limitations",
        "privacy",
    ):
        assert d[section], section
    assert d["model_details"]["output_columns"] == ["probability", "decision"]
    assert d["intended_use"]["out_of_scope"]
    assert d["data"]["rows_per_split"]["test"] == len(rows)
    assert list(d["data"]["rows_per_split"]) == ["train", "valid", "test"]
    assert d["features"]["n_features"] == sum(g["n_features"] for g in d["features"]["by_group"])
    assert d["features"]["n_features"] == len(churn_fit.result.model.features)

    q = d["quantitative_analysis"]
    perf = {p["metric"]: p for p in q["performance_metrics"]}
    deployed = churn_fit.task.deployed_metrics(rows, churn_fit.outputs)
    auc = perf["roc_auc"]
    assert auc["value"] == pytest.approx(deployed["roc_auc"])
    assert auc["value"] == pytest.approx(churn_fit.result.metrics["roc_auc"])
    assert auc["lower"] < auc["value"] < auc["upper"]
    assert auc["baseline"] == pytest.approx(churn_fit.result.baseline_metrics["roc_auc"])
    assert q["grade"]["value"] == churn_fit.result.grade
    assert q["calibration"]["kind"] == "probability" and q["calibration"]["ece"] >= 0
    slices = {r["slice"] for r in q["slices"]["table"]}
    assert {"plan", "region", "age band", "tenure band", "consent"} <= slices
    assert all(r["n"] is None or r["n"] >= 50 for r in q["slices"]["table"])

    assert d["explanation"]["available"] and len(d["explanation"]["top_factors"]) == 10
    consent = d["privacy"]["consent"]
    assert consent["gate_verified"] is True  # no social value for anyone without consent
    assert d["privacy"]["model_inputs"]["identifier_like"] == []


def test_limitations_are_derived_from_the_numbers(churn_fit):
    card, result, rows = churn_fit.card, churn_fit.result, churn_fit.rows
    kinds = {x["kind"] for x in card.limitations}
    y = rows["label_churn"].astype(int)
    n, pos = len(y), int(y.sum())
    se0 = math.sqrt((n + 1) / (12 * pos * (n - pos)))
    no_signal = abs(result.baseline_metrics["roc_auc"] - 0.5) < 1.96 * se0
    assert ("baseline_no_signal" in kinds) == no_signal
    assert {"synthetic_data", "single_test_cutoff"} <= kinds
    assert "cv_only" not in kinds and "no_explanation" not in kinds


def test_the_card_round_trips_through_json_and_renders_markdown(churn_fit):
    card = churn_fit.card
    text = card.to_json()
    json.loads(text)  # strict JSON: no NaN
    assert mc.ModelCard.from_json(text) == card
    md = card.to_markdown()
    for heading in (
        "# Model card: socialcrm-churn v1",
        "## Model details",
        "## Intended use",
        "### Out of scope",
        "## Data",
        "## Features",
        "## Quantitative analysis",
        "### Test metrics",
        "### Baseline and grade",
        "### Calibration",
        "### Metrics by slice",
        "## Explanation",
        "## Limitations",
        "## Privacy",
    ):
        assert heading in md, heading
    assert "| ROC-AUC |" in md and "| metric | model | 95% interval |" in md
    summary = card.summary_markdown("model_card.md")
    assert "[model_card.md](model_card.md)" in summary and "Grade **" in summary


def test_the_card_names_no_customer_and_no_secret(churn_fit):
    card, rows, salt = churn_fit.card, churn_fit.rows, str(churn_fit.cfg.data.salt)
    text = card.to_json() + card.to_markdown()
    assert salt not in text
    assert mc.privacy_problems(text, churn_fit.consent.index, [salt]) == []
    assert not any(cid in text for cid in rows["customer_id"].head(50))
    with pytest.raises(ValueError, match="secret"):
        mc.build_model_card(
            churn_fit.task,
            churn_fit.result,
            [],
            rows,
            churn_fit.outputs,
            n_boot=0,
            secrets=["recency rule"],  # any text the card holds stands in for a leak
        )


def test_a_cross_validated_fit_reports_fold_intervals_and_says_so(churn_fit):
    # the fit's metrics as if from 5 folds: intervals come from the folds, not the rows
    folds = pd.DataFrame({"roc_auc": [0.70, 0.72, 0.68, 0.71, 0.69], "f1": [0.3] * 5})
    metrics = {"roc_auc": 0.70, "roc_auc_sd": float(folds.roc_auc.std()), "f1": 0.3}
    result = dataclasses.replace(
        churn_fit.result,
        metrics=metrics,
        tables={**churn_fit.result.tables, "cv_folds": folds},
    )
    card = mc.build_model_card(
        churn_fit.task, result, [], churn_fit.rows, churn_fit.outputs, n_boot=0
    )
    q = card.quantitative_analysis
    auc = next(p for p in q["performance_metrics"] if p["metric"] == "roc_auc")
    half = stats.t.ppf(0.975, 4) * folds.roc_auc.std() / math.sqrt(5)
    assert (auc["value"], auc["lower"], auc["upper"]) == pytest.approx(
        (0.70, 0.70 - half, 0.70 + half)
    )
    assert q["evaluation"] == "cv" and q["slices"]["note"].startswith("In-sample")
    assert "cv_only" in {x["kind"] for x in card.limitations}
