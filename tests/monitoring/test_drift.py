"""Drift statistics on data with known answers, and what a reference profile holds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from socialcrm.monitoring.drift import (
    EPSILON,
    OTHER,
    drift_table,
    psi,
    reference_profile,
    severity,
    summary,
)


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in range(n)],
            "spend": rng.normal(100.0 + shift * 20.0, 20.0, n),
            "tickets": rng.poisson(0.3 + shift, n).astype(float),
            "plan": rng.choice(["basic", "plus", "premium"], n, p=[0.6, 0.3, 0.1]),
        }
    )


def _profile(frame: pd.DataFrame, **kw) -> dict:
    return reference_profile(frame, ["spend", "tickets"], ["plan"], **kw)


def test_psi_of_identical_distributions_is_zero():
    frame = _frame(np.random.default_rng(0), 5000)
    table = drift_table(_profile(frame), frame)
    assert np.allclose(table["psi"], 0.0, atol=1e-12)
    assert np.allclose(table["distance"], 0.0, atol=1e-12)
    assert (table["severity"] == "stable").all() and not table["drifted"].any()


def test_psi_matches_the_formula_on_a_hand_made_example():
    # reference: 4 values in each of 4 quartile bins; the current sample leans right
    ref = pd.DataFrame({"x": [0.5] * 4 + [1.5] * 4 + [2.5] * 4 + [3.5] * 4})
    cur = pd.DataFrame({"x": [0.5] * 1 + [1.5] * 3 + [2.5] * 4 + [3.5] * 8})
    profile = reference_profile(ref, ["x"], [], bins=4)
    assert profile["features"]["x"]["cuts"] == [1.25, 2.0, 2.75]
    r = np.array([4, 4, 4, 4]) / 16
    c = np.array([1, 3, 4, 8]) / 16
    expected = float(np.sum((c - r) * np.log(c / r)))  # 0.4512
    got = drift_table(profile, cur)["psi"].iloc[0]
    assert got == pytest.approx(expected, rel=1e-12) and got == pytest.approx(0.4512, abs=1e-4)
    assert [severity(v) for v in (0.05, 0.1, 0.2, 0.25, got)] == [
        "stable",
        "moderate",
        "moderate",
        "significant",
        "significant",
    ]
    # an empty bin is floored at EPSILON inside the logarithm only
    assert psi([0.5, 0.5], [1.0, 0.0]) == pytest.approx(
        0.5 * np.log(1.0 / 0.5) + (-0.5) * np.log(EPSILON / 0.5)
    )


def test_a_shifted_normal_is_flagged_and_a_fresh_sample_is_not():
    rng = np.random.default_rng(1)
    profile = _profile(_frame(rng, 20_000))
    same = drift_table(profile, _frame(rng, 5000)).set_index("column")
    shifted = drift_table(profile, _frame(rng, 5000, shift=1.0)).set_index("column")
    assert not same["drifted"].any(), same[["psi", "distance"]]
    assert same.loc["spend", "psi"] < 0.02 and same.loc["spend", "distance"] < 0.05
    # a one-sd shift of spend and three times the tickets
    assert shifted.loc["spend", "severity"] == "significant"
    assert shifted.loc["spend", "distance"] == pytest.approx(20.0 / (2 * 0.6745 * 20.0), rel=0.1)
    assert shifted.loc["tickets", "severity"] == "significant"
    assert shifted.loc["plan", "severity"] == "stable"  # the plan mix did not move


def test_jensen_shannon_of_identical_categoricals_is_zero_and_bounded_by_one():
    ref = pd.DataFrame({"plan": ["a"] * 50 + ["b"] * 50})
    profile = reference_profile(ref, [], ["plan"])
    assert drift_table(profile, ref)["js"].iloc[0] == pytest.approx(0.0, abs=1e-12)
    other = pd.DataFrame({"plan": ["c"] * 100})  # a level the reference never saw
    row = drift_table(profile, other).iloc[0]
    assert row["js"] == pytest.approx(1.0)
    assert row["severity"] == "significant"


def test_missing_values_are_a_bin_of_their_own():
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"x": rng.normal(size=4000)})
    cur = ref.copy()
    cur.loc[: len(cur) // 2, "x"] = np.nan
    row = drift_table(reference_profile(ref, ["x"], []), cur).iloc[0]
    assert row["cur_missing"] == pytest.approx(0.5, abs=0.01) and row["ref_missing"] == 0
    assert row["severity"] == "significant"


def test_scores_are_profiled_by_type_and_reported_as_score_rows():
    rng = np.random.default_rng(3)
    frame = _frame(rng, 3000)
    outputs = pd.DataFrame(
        {
            "probability": rng.uniform(0, 0.4, 3000),
            "decision": rng.uniform(size=3000) < 0.2,
            "action": rng.choice(["none", "OF-A"], 3000),
        }
    )
    profile = _profile(frame, outputs=outputs)
    assert profile["outputs"]["probability"]["type"] == "numeric"
    assert profile["outputs"]["decision"]["type"] == "categorical"
    assert profile["outputs"]["action"]["type"] == "categorical"
    moved = outputs.assign(probability=rng.uniform(0.3, 0.9, 3000))
    table = drift_table(profile, frame, moved.assign(reason_1="x"))
    scores = table[table["kind"] == "score"].set_index("column")
    assert set(scores.index) == {"probability", "decision", "action"}  # no reason columns
    assert scores.loc["probability", "severity"] == "significant"
    s = summary(table)
    assert s["score_column"] == "probability" and s["score_severity"] == "significant"
    assert s["alarm"] and s["verdict"] == "drift"


def test_summary_shares_and_verdicts():
    rng = np.random.default_rng(4)
    profile = _profile(_frame(rng, 10_000))
    calm = summary(drift_table(profile, _frame(rng, 4000)))
    assert calm["verdict"] == "stable" and calm["share_drifted"] == 0 and not calm["alarm"]
    assert np.isnan(calm["score_psi"])
    moved = summary(drift_table(profile, _frame(rng, 4000, shift=1.0)))
    assert moved["n_drifted"] == 2 and moved["share_drifted"] == pytest.approx(2 / 3)
    assert moved["alarm"] and moved["verdict"] == "drift"
    assert moved["top"][0]["column"] in {"spend", "tickets"}
    assert (
        summary(drift_table(profile, _frame(rng, 4000, 1.0)), alarm_share=0.9)["verdict"] == "watch"
    )


def test_the_profile_holds_no_identifier_rare_level_or_outlier():
    rng = np.random.default_rng(5)
    frame = _frame(rng, 10_000)
    marker_spend = 987654.321
    frame.loc[17, "spend"] = marker_spend  # one customer's outlier
    frame.loc[17, "plan"] = "vip-jane-doe"  # one customer's level
    frame.loc[18:22, "plan"] = "rare-level"  # five customers' level (< min_count 10)
    outputs = pd.DataFrame({"probability": frame["spend"] / 1e6, "action": frame["plan"]})
    profile = _profile(frame, outputs=outputs)
    dump = json.dumps(profile)
    json.loads(dump)  # strict JSON: no NaN or infinities either
    assert "NaN" not in dump and "Infinity" not in dump
    for value in ("C000017", "C0000", "vip-jane-doe", "rare-level", "987654", "0.987654"):
        assert value not in dump, value
    assert OTHER in profile["features"]["plan"]["levels"]
    assert profile["n"] == 10_000 and set(profile["features"]) == {"spend", "tickets", "plan"}
    # a level that only the current rows have is compared as OTHER
    cur = frame.assign(plan="brand-new")
    assert drift_table(profile, cur).set_index("column").loc["plan", "severity"] == "significant"


def test_the_current_rows_must_have_every_profiled_feature():
    frame = _frame(np.random.default_rng(6), 500)
    with pytest.raises(KeyError, match="tickets"):
        drift_table(_profile(frame), frame.drop(columns="tickets"))
    with pytest.raises(KeyError, match="nope"):
        reference_profile(frame, ["nope"], [])
