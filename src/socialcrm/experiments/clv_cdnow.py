"""CLV on real transactions: the CDNOW cohort through the own-data path.

The classic protocol (Fader, Hardie and Lee 2005): calibration 1997-01-01..
1997-09-30, holdout 1997-10-01..1998-06-30 (39 weeks), same-day purchases
merged, every one of the 23,570 customers who first bought in 1997 Q1 scored.
The transactions come in through ``data=cdnow`` (validated and ingested like
any user's export; customers derived from the transactions, no social tables).

Models, all fitted on calibration data only:

- **BTYD**: BG/NBD + Gamma-Gamma (pymc-marketing, MAP), predicting 39 weeks.
- **Time-shifted machine learning.** The holdout's labels must not train
  anything, so the training rows come from *inside* the calibration period:
  at each of several earlier cutoffs (1997-02-01 .. 1997-07-01, every half
  month) the features are computed from the purchases before the cutoff and
  the label is the spend from the cutoff to the calibration end (13 to 35
  weeks). At the calibration end the same features predict the 39-week
  holdout. Horizons differ between training and scoring, so the models are
  horizon-aware:

  - *rate*: LightGBM (Tweedie) on spend per week of the label window,
    multiplied by the horizon when scoring;
  - *hybrid*: LightGBM (Tweedie) with a BTYD offset: the boosted trees learn a
    multiplicative correction to the BTYD expectation for the label horizon
    (half the decaying BG/NBD forecast, half its current rate held flat, in
    logs); the BTYD model is refitted at every training cutoff on the data
    before it;
  - *blend*: the geometric mean of the two.

  Both see RFM features (days since the last purchase, repeat purchases,
  spend and CDs per purchase, first purchase, recent windows, rates per week
  of tenure) and the BTYD outputs.

An inner validation inside the calibration period (labels ending 1997-07-01,
scored on 1997-07-01..09-30) is reported beside the holdout.

Usage (writes ``experiments/clv-cdnow/results.csv`` and the tables in its
README; about 5 minutes on 2 cores)::

    python -m socialcrm.experiments.clv_cdnow
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from socialcrm.config import compose
from socialcrm.data.io import atomic_file
from socialcrm.evaluation.value import value_metrics
from socialcrm.models.btyd import BTYDModel, rfm_from_transactions
from socialcrm.reports.markdown import render_into_readme, to_markdown

CAL_END = pd.Timestamp("1997-10-01")
HOLD_END = pd.Timestamp("1998-07-01")
VALID_END = pd.Timestamp("1997-07-01")
TRAIN_CUTOFFS = tuple(
    pd.Timestamp(d)
    for d in (
        "1997-02-01",
        "1997-02-15",
        "1997-03-01",
        "1997-03-15",
        "1997-04-01",
        "1997-04-15",
        "1997-05-01",
        "1997-05-15",
        "1997-06-01",
        "1997-06-15",
        "1997-07-01",
    )
)
FEATURES = (
    "frequency",
    "recency_d",
    "tenure_d",
    "total_spend",
    "total_qty",
    "first_amount",
    "first_qty",
    "mv_repeat",
    "mean_amount",
    "max_amount",
    "mean_qty",
    "price_per_cd",
    "last_amount",
    "freq_rate",
    "spend_rate",
    "recency_ratio",
    "overdue",
    "spend_90d",
    "days_90d",
    "spend_30d",
    "days_30d",
    "p_alive",
    "exp_spend",
    "exp_purch_rate",
    "exp_purch_1w",
    "clv_rate",
)
LGBM_PARAMS = {
    "objective": "tweedie",
    "tweedie_variance_power": 1.5,
    "learning_rate": 0.03,
    "num_leaves": 7,
    "min_child_samples": 200,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "verbose": -1,
    "deterministic": True,
    "force_row_wise": True,
}
OUT_DIR = Path(__file__).resolve().parents[3] / "experiments" / "clv-cdnow"
WEEK = 7.0


# -- pure functions: purchases in, features and labels out ---------------------------


def daily_purchases(transactions: pd.DataFrame) -> pd.DataFrame:
    """Same-day purchases merged: ``customer_id, day, amount, qty`` (sorted)."""
    if "is_return" in transactions.columns:
        transactions = transactions.loc[~transactions["is_return"].astype(bool)]
    tx = transactions
    qty = tx["quantity"] if "quantity" in tx.columns else pd.Series(1.0, index=tx.index)
    return (
        tx.assign(day=tx["timestamp"].dt.floor("D"), qty=qty.astype(float))
        .groupby(["customer_id", "day"], sort=True)
        .agg(amount=("amount", "sum"), qty=("qty", "sum"))
        .reset_index()
    )


def window_totals(daily: pd.DataFrame, start, end) -> pd.DataFrame:
    """Per customer: spend and purchase days in ``[start, end)``."""
    part = daily[(daily["day"] >= pd.Timestamp(start)) & (daily["day"] < pd.Timestamp(end))]
    g = part.groupby("customer_id")
    return pd.DataFrame({"spend": g["amount"].sum(), "purchases": g.size().astype(float)})


def rfm_features(daily: pd.DataFrame, cutoff) -> pd.DataFrame:
    """RFM features from the purchase days before ``cutoff``, one row per customer seen.

    Repeat purchase days, days from the first to the last purchase day and the age
    come from the BTYD summary (:func:`socialcrm.models.btyd.rfm_from_transactions`,
    in days); the rest (quantities, first, last and largest amounts, recent windows,
    rates per week of tenure) are what the ML models see beyond it.
    """
    cutoff = pd.Timestamp(cutoff)
    x = daily[daily["day"] < cutoff]
    g = x.groupby("customer_id")
    total, qty, first_amount = g["amount"].sum(), g["qty"].sum(), g["amount"].first()
    summary = rfm_from_transactions(daily, cutoff, time_col="day", time_unit_days=1.0)
    summary = summary.set_index("customer_id").reindex(total.index)
    frequency = summary["frequency"]
    n = frequency + 1
    tenure = summary["T"] + 1  # the summary's age ends on the last day before the cutoff
    recency = tenure - summary["recency"]
    ipt = summary["recency"] / frequency.clip(lower=1)
    f = pd.DataFrame(
        {
            "tenure_d": tenure,
            "recency_d": recency,
            "frequency": frequency,
            "n_days": n,
            "total_spend": total,
            "total_qty": qty,
            "first_amount": first_amount,
            "first_qty": g["qty"].first(),
            # the summary's mean repeat amount is exact (decimal); this float one differs in
            # the last bits, enough to move LightGBM's bins and the published holdout numbers
            "mv_repeat": np.where(n > 1, (total - first_amount) / frequency.clip(lower=1), 0.0),
            "mean_amount": total / n,
            "max_amount": g["amount"].max(),
            "mean_qty": qty / n,
            "price_per_cd": total / qty.clip(lower=1),
            "last_amount": g["amount"].last(),
        }
    )
    weeks = (tenure / WEEK).clip(lower=1)
    f["freq_rate"] = frequency / weeks
    f["spend_rate"] = total / weeks
    f["recency_ratio"] = f["recency_d"] / tenure.clip(lower=1)
    f["overdue"] = np.where(n > 1, f["recency_d"] / ipt.clip(lower=1), np.nan)
    for w in (30, 90):
        recent = window_totals(daily, cutoff - pd.Timedelta(days=w), cutoff).reindex(f.index)
        f[f"spend_{w}d"] = recent["spend"].fillna(0.0)
        f[f"days_{w}d"] = recent["purchases"].fillna(0.0)
    return f.astype(float)


def btyd_features(model: BTYDModel, rfm: pd.DataFrame, horizon_weeks: float) -> pd.DataFrame:
    """The BTYD outputs for a horizon, indexed by customer."""
    purchases = model.expected_purchases(rfm, horizon_weeks)
    spend = model.expected_spend(rfm)
    out = pd.DataFrame(
        {
            "p_alive": model.probability_alive(rfm),
            "exp_spend": spend,
            "exp_purch_h": purchases,
            "exp_purch_rate": purchases / horizon_weeks,
            "exp_purch_1w": model.expected_purchases(rfm, 1.0),
            "clv_h": purchases * spend,
        },
        index=pd.Index(rfm["customer_id"].to_numpy(), name="customer_id"),
    )
    out["clv_rate"] = out["clv_h"] / horizon_weeks
    return out


@dataclass
class Block:
    """Rows of one cutoff: features, the label window's length and its labels."""

    X: pd.DataFrame
    spend: np.ndarray
    purchases: np.ndarray
    weeks: float


def make_block(daily: pd.DataFrame, model: BTYDModel, rfm: pd.DataFrame, cutoff, end) -> Block:
    """Features at ``cutoff`` (customers seen before it), labels in ``[cutoff, end)``."""
    weeks = (pd.Timestamp(end) - pd.Timestamp(cutoff)).days / WEEK
    X = rfm_features(daily, cutoff).join(btyd_features(model, rfm, weeks))
    y = window_totals(daily, cutoff, end).reindex(X.index).fillna(0.0)
    return Block(X, y["spend"].to_numpy(), y["purchases"].to_numpy(), weeks)


def btyd_offset(X: pd.DataFrame, weeks: np.ndarray) -> np.ndarray:
    """log BTYD expected spend in the window: the mean of the decaying BG/NBD forecast
    and its current weekly rate held flat (in logs)."""
    flat = X["exp_purch_1w"].to_numpy() * X["exp_spend"].to_numpy() * weeks
    return 0.5 * (np.log(X["clv_h"].to_numpy()) + np.log(flat))


def fit_predict(
    train: Sequence[Block], test: Block, n_estimators: int, seed: int, n_jobs: int
) -> dict[str, np.ndarray]:
    """Fit the rate and hybrid models on the stacked training blocks; predict ``test``."""
    import lightgbm as lgb

    X = pd.concat([b.X for b in train])
    y = np.concatenate([b.spend for b in train])
    weeks = np.concatenate([np.full(len(b.X), b.weeks) for b in train])
    params = LGBM_PARAMS | {"random_state": seed, "n_jobs": n_jobs}
    Xt = test.X[list(FEATURES)].to_numpy()

    def boost(target, init):
        data = lgb.Dataset(X[list(FEATURES)].to_numpy(), target, init_score=init)
        return lgb.train(params, data, num_boost_round=n_estimators)

    rate = np.exp(boost(y / weeks, None).predict(Xt, raw_score=True)) * test.weeks
    off = btyd_offset(test.X, np.full(len(test.X), test.weeks))
    hybrid = np.exp(boost(y, btyd_offset(X, weeks)).predict(Xt, raw_score=True) + off)
    return {"rate": rate, "hybrid": hybrid, "blend": np.sqrt(rate * hybrid)}


def report_row(name: str, spend: np.ndarray, pred: np.ndarray, purchases=None, pred_purchases=None):
    """One line of the results table: value metrics, and purchase counts when predicted."""
    m = value_metrics(spend, pred)
    row = {"model": name} | {k: m[k] for k in ("normalized_gini", "spearman", "rmse", "mae")}
    row |= {
        "decile_mape": m["decile_mape"],
        "top10_share": m["top10_share"],
        "total_predicted_spend": m["total_predicted"],
        "total_actual_spend": m["total_actual"],
    }
    if pred_purchases is not None:
        row |= {
            "total_predicted_purchases": float(np.sum(pred_purchases)),
            "total_actual_purchases": float(np.sum(purchases)),
            "mae_purchases": float(np.mean(np.abs(np.asarray(pred_purchases) - purchases))),
        }
    return row


# -- the edge: data, fits, README ----------------------------------------------------


def load_transactions(overrides: Sequence[str] = ()) -> pd.DataFrame:
    """CDNOW through the own-data path: validated and ingested if not done yet."""
    from socialcrm.data import load

    cfg = compose(["data=cdnow", *overrides])
    interim = Path(cfg.data.interim_dir)
    if not (interim / "_manifest.json").is_file():
        load.ingest(load.DataSource.from_config(cfg.data))
    return pd.read_parquet(interim / "transactions.parquet")


def run_experiment(
    seeds: Sequence[int], trees: Sequence[int], console: Console | None = None
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Fit BTYD at every cutoff, the ML models per seed and size; returns (results, BG/NBD
    parameters at the calibration end)."""
    tx = load_transactions()
    daily = daily_purchases(tx)
    n_jobs = int(os.environ.get("SOCIALCRM_N_JOBS", "2"))
    say = console.print if console is not None else (lambda *a, **k: None)
    fits: dict[pd.Timestamp, tuple[BTYDModel, pd.DataFrame]] = {}
    for cutoff in (*TRAIN_CUTOFFS, CAL_END):
        t0 = time.perf_counter()
        rfm = rfm_from_transactions(tx, cutoff)
        fits[cutoff] = (BTYDModel().fit(rfm), rfm)
        say(f"BTYD fitted on purchases before {cutoff:%Y-%m-%d} ({time.perf_counter() - t0:.0f} s)")
    holdout = make_block(daily, *fits[CAL_END], CAL_END, HOLD_END)
    if len(holdout.X) != 23570:
        raise ValueError(f"expected the 23,570 CDNOW customers, found {len(holdout.X)}")
    train = [make_block(daily, *fits[c], c, CAL_END) for c in TRAIN_CUTOFFS]
    inner_train = [make_block(daily, *fits[c], c, VALID_END) for c in TRAIN_CUTOFFS[:-1]]
    inner_test = make_block(daily, *fits[VALID_END], VALID_END, CAL_END)

    rows = []
    for split, block in (("holdout", holdout), ("inner validation", inner_test)):
        rows.append(
            report_row(
                "BG/NBD + Gamma-Gamma",
                block.spend,
                block.X["clv_h"].to_numpy(),
                block.purchases,
                block.X["exp_purch_h"].to_numpy(),
            )
            | {"split": split, "seed": np.nan, "trees": np.nan}
        )
        rows.append(
            report_row("zero for everyone", block.spend, np.zeros(len(block.spend)))
            | {"split": split, "seed": np.nan, "trees": np.nan}
        )
    for n_trees in trees:
        for seed in seeds:
            say(f"LightGBM models: {n_trees} trees, seed {seed}")
            for split, tr, te in (
                ("holdout", train, holdout),
                ("inner validation", inner_train, inner_test),
            ):
                preds = fit_predict(tr, te, n_trees, seed, n_jobs)
                for name, pred in preds.items():
                    rows.append(
                        report_row(f"LightGBM {name}", te.spend, pred)
                        | {"split": split, "seed": seed, "trees": n_trees}
                    )
    params = fits[CAL_END][0].params
    return pd.DataFrame(rows), params


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds (and the worst seed for the targets) per split, model and size."""
    keys = ["split", "model", "trees"]
    r = results.assign(trees=results["trees"].fillna(0))
    metrics = [c for c in r.columns if c not in (*keys, "seed")]
    out = r.groupby(keys, sort=False)[metrics].mean().reset_index()
    worst = (
        r.groupby(keys, sort=False)
        .agg(
            worst_gini=("normalized_gini", "min"),
            worst_rmse=("rmse", "max"),
            worst_decile_mape=("decile_mape", "max"),
            seeds=("seed", "nunique"),
        )
        .reset_index()
    )
    return out.merge(worst, on=keys)


def markdown_tables(summary: pd.DataFrame, params: dict[str, float]) -> str:
    """The README's tables: holdout and inner validation, and the BG/NBD parameters."""
    parts = []
    for split in ("holdout", "inner validation"):
        s = summary[summary.split == split]
        table = pd.DataFrame(
            {
                "model": [
                    m if not t else f"{m} ({int(t)} trees)"
                    for m, t in zip(s.model, s.trees, strict=True)
                ],
                "normalized Gini": s.normalized_gini,
                "Spearman": s.spearman,
                "RMSE": s.rmse.map("{:.2f}".format),
                "MAE spend": s.mae.map("{:.2f}".format),
                "decile MAPE": s.decile_mape,
                "top-10% capture": s.top10_share,
                "predicted / actual spend": [
                    f"{p:,.0f} / {a:,.0f}"
                    for p, a in zip(s.total_predicted_spend, s.total_actual_spend, strict=True)
                ],
                "predicted / actual purchases": [
                    f"{p:,.0f} / {a:,.0f}" if pd.notna(p) else ""
                    for p, a in zip(
                        s.get("total_predicted_purchases", np.nan),
                        s.get("total_actual_purchases", np.nan),
                        strict=True,
                    )
                ],
                "MAE purchases": s.get("mae_purchases", np.nan),
                "worst seed: Gini / RMSE / decile MAPE": [
                    f"{g:.4f} / {r:.2f} / {d:.3f}" if n > 0 else ""
                    for g, r, d, n in zip(
                        s.worst_gini, s.worst_rmse, s.worst_decile_mape, s.seeds, strict=True
                    )
                ],
            }
        )
        title = (
            "Holdout 1997-10-01..1998-06-30 (23,570 customers)"
            if split == "holdout"
            else "Inner validation: labels to 1997-07-01, scored on 1997-07-01..09-30"
        )
        parts.append(f"**{title}** (mean over seeds)\n\n" + to_markdown(table, floats="{:.4f}"))
    p = ", ".join(f"{k}={v:.4g}" for k, v in params.items())
    parts.append(f"BG/NBD and Gamma-Gamma parameters (calibration to 1997-09-30): {p}.")
    return "\n\n".join(parts)


def main(
    seeds: Annotated[int, typer.Option(help="LightGBM seeds 0..N-1")] = 5,
    out_dir: Annotated[Path, typer.Option(help="where results.csv and README.md live")] = OUT_DIR,
) -> None:
    """Run the experiment, print the holdout table, write results.csv and the README."""
    # one model thread: the same numbers on any machine load
    os.environ.setdefault("SOCIALCRM_N_JOBS", "1")
    console = Console()
    results, params = run_experiment(list(range(seeds)), (150, 300), console)
    summary = summarise(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_file(out_dir / "results.csv") as tmp:
        results.to_csv(tmp, index=False, float_format="%.6f")
    table = Table(title="CDNOW holdout: predicted 39-week spend (mean over seeds)")
    for col in ("model", "trees", "Gini", "RMSE", "decile MAPE", "top-10%", "worst RMSE"):
        table.add_column(col)
    for r in summary[summary.split == "holdout"].itertuples():
        table.add_row(
            r.model,
            f"{int(r.trees)}" if r.trees else "",
            f"{r.normalized_gini:.4f}",
            f"{r.rmse:.2f}",
            f"{r.decile_mape:.3f}",
            f"{r.top10_share:.3f}",
            f"{r.worst_rmse:.2f}",
        )
    console.print(table)
    command = "python -m socialcrm.experiments.clv_cdnow" + (
        f" --seeds {seeds}" if seeds != 5 else ""
    )
    text = markdown_tables(summary, params) + f"\n\nReproduce: `.venv/bin/{command}`"
    if render_into_readme(out_dir / "README.md", text):
        console.print(f"tables written to {out_dir / 'README.md'}")


if __name__ == "__main__":
    typer.run(main)
