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

Why not through the task layer: :class:`~socialcrm.tasks.clv.ClvTask` learns one
fixed-horizon label per cutoff of the feature pipeline's table and scores a test
cutoff with that same horizon. This recipe trains on label windows of 13 to 35
weeks that all end at the calibration end, scores a 39-week holdout, divides by
or offsets with each window's length (the rate target, the BTYD offset as the
boosting's initial score) and refits BTYD at every training cutoff with the
offset's two forecasts; none of that is a task parameter. So only the fit (the
pure functions here: features, blocks, :func:`fit_predict`) is this module's own;
the loop (splits x seeds x model sizes), the summary over seeds, the README
tables and the MLflow run are the experiment grid's
(:mod:`socialcrm.experiments.grid`).

Usage (writes ``experiments/clv-cdnow/results.csv`` and the tables in its
README; about 3 minutes on 2 cores)::

    python -m socialcrm.experiments.clv_cdnow
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from omegaconf import DictConfig
from rich.console import Console

from socialcrm.config import compose
from socialcrm.evaluation.value import value_metrics
from socialcrm.experiments import grid
from socialcrm.models.btyd import BTYDModel, rfm_from_transactions

CAL_END = pd.Timestamp("1997-10-01")
HOLD_END = pd.Timestamp("1998-07-01")
VALID_END = pd.Timestamp("1997-07-01")
TRAIN_CUTOFFS = tuple(pd.date_range("1997-02-01", "1997-07-01", freq="SMS"))  # 1st and 15th
# what the LightGBM models see, in this order (it decides their column sampling)
_NAMES = (
    "frequency recency_d tenure_d total_spend total_qty first_amount first_qty mv_repeat "
    "mean_amount max_amount mean_qty price_per_cd last_amount freq_rate spend_rate "
    "recency_ratio overdue spend_90d days_90d spend_30d days_30d p_alive exp_spend "
    "exp_purch_rate exp_purch_1w clv_rate"
)
FEATURES = tuple(_NAMES.split())
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
TREES = (150, 300)
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
    train: Sequence[Block],
    test: Block,
    n_estimators: int,
    seed: int,
    n_jobs: int,
    features: Sequence[str] = FEATURES,
) -> dict[str, np.ndarray]:
    """Fit the rate and hybrid models on the stacked training blocks; predict ``test``."""
    import lightgbm as lgb

    X = pd.concat([b.X for b in train])
    y = np.concatenate([b.spend for b in train])
    weeks = np.concatenate([np.full(len(b.X), b.weeks) for b in train])
    params = LGBM_PARAMS | {"random_state": seed, "n_jobs": n_jobs}
    Xt = test.X[list(features)].to_numpy()

    def boost(target, init):
        data = lgb.Dataset(X[list(features)].to_numpy(), target, init_score=init)
        return lgb.train(params, data, num_boost_round=n_estimators)

    rate = np.exp(boost(y / weeks, None).predict(Xt, raw_score=True)) * test.weeks
    off = btyd_offset(test.X, np.full(len(test.X), test.weeks))
    hybrid = np.exp(boost(y, btyd_offset(X, weeks)).predict(Xt, raw_score=True) + off)
    return {"rate": rate, "hybrid": hybrid, "blend": np.sqrt(rate * hybrid)}


def value_row(spend: np.ndarray, pred: np.ndarray, purchases=None, pred_purchases=None):
    """Value metrics of a prediction, and purchase counts when predicted."""
    m = value_metrics(spend, pred)
    row = {k: m[k] for k in ("normalized_gini", "spearman", "rmse", "mae")}
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


def references(test: Block) -> dict[str, float]:
    """BG/NBD + Gamma-Gamma (``btyd_*``) and zero spend for everyone (``zero_*``) on
    ``test``."""
    btyd = value_row(test.spend, test.X["clv_h"], test.purchases, test.X["exp_purch_h"])
    zero = value_row(test.spend, np.zeros(len(test.spend)))
    return {f"btyd_{k}": v for k, v in btyd.items()} | {f"zero_{k}": v for k, v in zero.items()}


# -- the edge: data, the grid, README ------------------------------------------------


def load_transactions(cfg: DictConfig) -> pd.DataFrame:
    """CDNOW through the own-data path (``data=cdnow``): validated and ingested if not
    done yet."""
    from socialcrm.data import load

    interim = Path(cfg.data.interim_dir)
    if not (interim / "_manifest.json").is_file():
        load.ingest(load.DataSource.from_config(cfg.data))
    return pd.read_parquet(interim / "transactions.parquet")


@dataclass
class Split:
    """A world of the grid: the training blocks, the block they predict and the
    references on it."""

    train: list[Block]
    test: Block
    references: dict[str, float]


@lru_cache(maxsize=1)
def history(interim_dir: str) -> tuple[pd.DataFrame, dict[pd.Timestamp, tuple]]:
    """Daily purchases, and BTYD fitted on the purchases before every cutoff (shared
    by both splits)."""
    tx = load_transactions(compose(["data=cdnow", f"data.interim_dir={interim_dir}"]))
    fits = {}
    for cutoff in (*TRAIN_CUTOFFS, CAL_END):
        rfm = rfm_from_transactions(tx, cutoff)
        fits[cutoff] = (BTYDModel().fit(rfm), rfm)
    return daily_purchases(tx), fits


def split_world(world: str, cfg: DictConfig) -> grid.World:
    """``holdout``: labels to the calibration end, scored on the 39 holdout weeks;
    ``inner validation``: labels to 1997-07-01, scored on 1997-07-01..09-30."""
    daily, fits = history(str(cfg.data.interim_dir))
    if world == "holdout":
        test = make_block(daily, *fits[CAL_END], CAL_END, HOLD_END)
        if len(test.X) != 23570:
            raise ValueError(f"expected the 23,570 CDNOW customers, found {len(test.X)}")
        train = [make_block(daily, *fits[c], c, CAL_END) for c in TRAIN_CUTOFFS]
    else:
        test = make_block(daily, *fits[VALID_END], VALID_END, CAL_END)
        train = [make_block(daily, *fits[c], c, VALID_END) for c in TRAIN_CUTOFFS[:-1]]
    return grid.World(Split(train, test, references(test)))


def lightgbm_cell(world: grid.World, cell: grid.Cell) -> list[dict]:
    """The rate, hybrid and blend models of one size (``cell.model``: ``"<n> trees"``)
    and seed, beside the references on the same rows."""
    split, n_trees = world.prepared, int(cell.model.split()[0])
    n_jobs = int(os.environ.get("SOCIALCRM_N_JOBS", "2"))
    preds = fit_predict(split.train, split.test, n_trees, cell.seed, n_jobs, cell.groups)
    return [
        value_row(split.test.spend, pred)
        | split.references
        | {"model": f"LightGBM {name} ({cell.model})"}
        for name, pred in preds.items()
    ]


def run_experiment(seeds: Sequence[int], console: Console | None = None) -> pd.DataFrame:
    """Both splits x seeds x model sizes; one row per split, seed and model."""
    cells = grid.Grid(
        {"rfm+btyd": FEATURES},
        seeds,
        worlds={"holdout": (), "inner validation": ()},
        models={f"{n} trees": () for n in TREES},
        overrides=("data=cdnow",),
    )
    return grid.run_grid(cells, split_world, lightgbm_cell, console)


def split_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One split's rows: the references first, then the models (mean over seeds)."""
    first = summary.iloc[0].to_dict()
    refs = [
        grid.as_row(first, "btyd", model="BG/NBD + Gamma-Gamma"),
        grid.as_row(first, "zero", model="zero for everyone"),
    ]
    t = pd.concat([pd.DataFrame(refs), summary], ignore_index=True)

    def pair(a: str, b: str) -> list[str]:
        return [
            f"{x:,.0f} / {y:,.0f}" if pd.notna(x) else ""
            for x, y in zip(t.get(a, np.nan), t.get(b, np.nan), strict=True)
        ]

    worst = [
        f"{g:.4f} / {r:.2f} / {d:.3f}" if pd.notna(g) else ""
        for g, r, d in zip(
            t["worst_normalized_gini"], t["worst_rmse"], t["worst_decile_mape"], strict=True
        )
    ]
    return t.assign(
        spend=pair("total_predicted_spend", "total_actual_spend"),
        purchases=pair("total_predicted_purchases", "total_actual_purchases"),
        worst=worst,
    )


COLUMNS = {
    "model": "model",
    "normalized Gini": "normalized_gini",
    "Spearman": "spearman",
    "RMSE": "rmse",
    "MAE spend": "mae",
    "decile MAPE": "decile_mape",
    "top-10% capture": "top10_share",
    "predicted / actual spend": "spend",
    "predicted / actual purchases": "purchases",
    "MAE purchases": "mae_purchases",
    "worst seed: Gini / RMSE / decile MAPE": "worst",
}
TITLES = {
    "holdout": "Holdout 1997-10-01..1998-06-30 (23,570 customers)",
    "inner validation": "Inner validation: labels to 1997-07-01, scored on 1997-07-01..09-30",
}


def summary_of(results: pd.DataFrame) -> pd.DataFrame:
    """Means over seeds (and the worst seed) per split and model."""
    metrics = [c for c in results.columns if c not in (*grid.DIMENSIONS, "seconds")]
    worst = {"normalized_gini": "min", "rmse": "max", "decile_mape": "max"}
    return grid.summarise(results, metrics, worst)


def markdown_tables(summary: pd.DataFrame, params: dict[str, float]) -> str:
    """The README's tables: holdout and inner validation, and the BG/NBD parameters."""
    digits = dict.fromkeys(COLUMNS.values(), 4) | {"rmse": 2, "mae": 2}
    parts = [
        f"**{title}** (mean over seeds)\n\n"
        + grid.markdown_table(split_table(summary[summary["world"] == split]), COLUMNS, (), digits)
        for split, title in TITLES.items()
    ]
    p = ", ".join(f"{k}={v:.4g}" for k, v in params.items())
    parts.append(f"BG/NBD and Gamma-Gamma parameters (calibration to 1997-09-30): {p}.")
    return "\n\n".join(parts)


def main(
    seeds: Annotated[int, typer.Option(help="LightGBM seeds 0..N-1")] = 5,
    out_dir: Annotated[Path, typer.Option(help="where results.csv and README.md live")] = OUT_DIR,
) -> None:
    """Run the experiment, print the tables, write results.csv and the README, log one
    MLflow run."""
    grid.one_thread()
    console = Console()
    results = run_experiment(range(seeds), console)
    summary = summary_of(results)
    cfg = compose(["data=cdnow"])
    params = history(str(cfg.data.interim_dir))[1][CAL_END][0].params
    text = markdown_tables(summary, params)
    console.print(text, markup=False, highlight=False)
    grid.publish(
        out_dir,
        text,
        grid.command(
            "socialcrm.experiments.clv_cdnow", *([f"--seeds {seeds}"] if seeds != 5 else [])
        ),
        {"results.csv": results},
        cfg.tracking,
        "clv-cdnow",
        grid.summary_metrics(summary, ("normalized_gini", "rmse", "decile_mape")),
        grid.grid_params(results),
        console=console,
    )


if __name__ == "__main__":
    typer.run(main)
