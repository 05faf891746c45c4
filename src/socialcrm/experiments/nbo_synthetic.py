"""Next-best-offer on synthetic worlds: how close does the learned offer policy come to
the oracle, does it beat every static policy, and does off-policy evaluation tell the
truth? The nbo-synthetic experiment.

For each seed the default synthetic world is generated with that seed (a temporary
folder, as :mod:`socialcrm.experiments.lift` does), its full point-in-time feature
table built in memory once, and ``task=nbo`` fitted through the run edge with each
reward learner (``task.learner`` = s, t, dr) and each campaign (no budget; at most 30%
of the contacts get an offer). The learner is chosen **per seed by the validation
period's DR value** (``valid_policy_value``), never by a test figure. On the test
contacts every policy (learned, logging, each static offer, no offer, random, oracle)
is valued by the six off-policy estimators and, from the generator's
``truth/offer_contact`` (every action's expected reward at each logged contact), by
its true value; the estimators' relative errors against that truth are compared as
in the Open Bandit Pipeline.

Usage (writes ``experiments/nbo-synthetic/results.csv``,
``results.policy_values.csv`` and the tables in its README; about 10 minutes on 2
cores)::

    python -m socialcrm.experiments.nbo_synthetic
    python -m socialcrm.experiments.nbo_synthetic --seeds 2 --learners s,t --no-budget
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from omegaconf import DictConfig
from rich.console import Console

from socialcrm import runner
from socialcrm.config import compose
from socialcrm.data.io import atomic_file
from socialcrm.experiments import grid
from socialcrm.paths import project_root
from socialcrm.reports.markdown import plus_minus, to_markdown
from socialcrm.tasks.base import TaskResult
from socialcrm.tasks.nbo import ESTIMATORS, true_rewards

NAME = "nbo-synthetic"
MODULE = "socialcrm.experiments.nbo_synthetic"
OUT_DIR = project_root() / "experiments" / NAME
LEARNERS = ("s", "t", "dr")
#: Campaign -> task overrides (the grid's variants).
CAMPAIGNS: dict[str, tuple[str, ...]] = {
    "no budget": (),
    "budget 30%": ("task.budget.share=0.3",),
}
#: Overrides of every cell (before the user's).
BASE = ("task=nbo",)
#: The issue's targets.
TARGET_SHARE = 0.90  # the learned policy's true value / the oracle policy's
TARGET_COVERS = 0.8  # share of seeds whose DR interval covers the true value (4 of 5)
#: Policies valued in every cell: the row prefix and the name in the policy_values table.
POLICIES = {"learned": "learned", "random": "random", "oracle": "oracle"}


# -- the world and one cell ------------------------------------------------------------


def nbo_world(world: str, cfg: DictConfig, seconds: dict[int, float] | None = None) -> grid.World:
    """Generate ``cfg.data`` into a temporary folder, build every feature group in
    memory and keep the tables the task names as its context (``offer_log``,
    ``offers`` and the truth: ``truth/offer_contact``, every action's expected reward
    at each logged contact, for true values and the oracle; never a feature). Nothing
    stays on disk; ``seconds[seed]`` gets the time taken."""
    from socialcrm.data.generate import write_synthetic
    from socialcrm.data.schemas import TABLES
    from socialcrm.features.run import build_from_config

    t0 = time.perf_counter()
    task = runner.build_task(cfg)
    with tempfile.TemporaryDirectory(prefix="socialcrm-world-") as tmp:
        raw = Path(tmp) / "raw"
        write_synthetic(cfg.data.generator, raw, cfg.data.salt)
        tables = {name: pd.read_parquet(raw / f"{name}.parquet") for name in TABLES}
        # as runner.task_context reads them from an ingested world's folders
        context = {
            name: pd.read_parquet(raw / f"{name}.parquet")
            for name in task.context_tables
            if (raw / f"{name}.parquet").is_file()
        }
    ft = build_from_config(cfg, lambda db: db.register_frames(tables))
    prepared = runner.Prepared(
        cfg,
        task,
        ft.frame,
        [s.to_dict() for s in ft.manifest],
        raw,
        list(cfg.features.groups),
        context,
    )
    if seconds is not None:
        seconds[int(cfg.seed)] = time.perf_counter() - t0
    return grid.World(prepared, {k: v for k, v in context.items() if k.startswith("truth/")})


def policy_figures(result: TaskResult) -> dict[str, Any]:
    """What a cell reports beyond the test metrics: the validation value (the selection
    criterion), and per policy (learned, logging, best static, random, oracle) its DR
    estimate with interval and its true value."""
    m, values = result.metrics, result.tables["policy_values"]
    dr = values[values["estimator"] == "dr"].set_index("policy")
    best = str(result.info["best_static"])
    statics = [p for p in dr.index if p.startswith("static ") or p == "no offer"]
    true_best = str(dr.loc[statics, "true_value"].idxmax())
    row: dict[str, Any] = {k: v for k, v in m.items() if k.startswith("valid_")}
    for prefix, policy in {**POLICIES, "best_static": best}.items():
        p = dr.loc[policy]
        row |= {
            f"{prefix}_dr": float(p["value"]),
            f"{prefix}_dr_lower": float(p["lower"]),
            f"{prefix}_dr_upper": float(p["upper"]),
            f"{prefix}_true": float(p["true_value"]),
            f"{prefix}_covers": float(p["lower"] <= p["true_value"] <= p["upper"]),
        }
    logging = values[values["policy"] == "logging"].iloc[0]
    row |= {
        "logging_value": float(logging["value"]),
        "logging_lower": float(logging["lower"]),
        "logging_upper": float(logging["upper"]),
        "best_static": best,
        "true_best_static": true_best,
        "true_best_static_true": float(dr.loc[true_best, "true_value"]),
        "n_train_contacts": float(result.info["n_train_contacts"]),
    }
    return row


def logging_truth(world: grid.World, result: TaskResult) -> dict[str, float]:
    """The logging policy's true value: the mean true expected reward of the actions it
    took on the test contacts (no estimator involved; its mean realised reward is a
    draw of it). NaN without a per-contact truth."""
    truth = world.truth.get("truth/offer_contact")
    log = world.prepared.context["offer_log"]
    keys = ["customer_id", "timestamp"]
    log = log.assign(customer_id=log["customer_id"].astype(str))
    log = log.assign(timestamp=pd.to_datetime(log["timestamp"]))
    if truth is None or "log_id" not in log or log.duplicated(keys).any():
        return {"logging_true": np.nan}
    scored = result.scored.assign(customer_id=result.scored["customer_id"].astype(str))
    rows = scored.merge(log[[*keys, "log_id"]], on=keys, how="left")
    catalog = result.model.catalog
    true = true_rewards(truth, rows, catalog, result.model.reward)
    if true is None:
        return {"logging_true": np.nan}
    action = rows["logged_action"].map({a: i for i, a in enumerate(catalog.actions)})
    return {"logging_true": float(true[np.arange(len(rows)), action.to_numpy(int)].mean())}


def measure(world: grid.World, cell: grid.Cell, tables: list[pd.DataFrame]) -> list[dict]:
    """Fit one cell through the run edge (:func:`grid.fit_cell`); its ``policy_values``
    table (every policy x estimator) goes to ``tables`` with the cell's keys."""
    kept: dict[str, pd.DataFrame] = {}

    def figures(world: grid.World, result: TaskResult) -> dict[str, Any]:
        kept["values"] = result.tables["policy_values"]
        row = policy_figures(result) | logging_truth(world, result)
        covered = row["logging_lower"] <= row["logging_true"] <= row["logging_upper"]
        return row | {"logging_covers": float(covered)}

    rows = grid.fit_cell(world, cell, figures)
    keys = {d: getattr(cell, d) for d in grid.DIMENSIONS}
    tables.append(kept["values"].assign(**keys).loc[:, [*keys, *kept["values"].columns]])
    return rows


# -- the experiment ----------------------------------------------------------------------


def run(
    seeds: Sequence[int],
    learners: Sequence[str] = LEARNERS,
    campaigns: Mapping[str, Sequence[str]] = CAMPAIGNS,
    overrides: Sequence[str] = (),
    console: Console | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every seed x learner x campaign on the seed's own world.

    Returns
    -------
    (results, values)
        One row per cell (``learner``, ``campaign``, the test metrics, the per-policy
        figures, ``chosen``: the learner with the best validation value in its seed and
        campaign, and the targets); and every cell's ``policy_values`` table.
    """
    overrides = [*BASE, *overrides]
    base = compose(overrides)
    cells = grid.Grid(
        {str(base.features.name): list(base.features.groups)},
        seeds,
        worlds={"default": ()},
        models={learner: [f"task.learner={learner}"] for learner in learners},
        variants={name: list(o) for name, o in campaigns.items()},
        overrides=overrides,
    )
    seconds: dict[int, float] = {}
    tables: list[pd.DataFrame] = []
    results = grid.run_grid(
        cells,
        partial(nbo_world, seconds=seconds),
        partial(measure, tables=tables),
        console,
    )
    results = results.rename(columns={"model": "learner", "variant": "campaign"})
    results.insert(results.columns.get_loc("learner") + 1, "model", str(base.model.name))
    results["world_seconds"] = results["seed"].map(seconds)
    values = pd.concat(tables, ignore_index=True)
    values = values.rename(columns={"model": "learner", "variant": "campaign"})
    return with_targets(choose(results)), values


def choose(results: pd.DataFrame) -> pd.DataFrame:
    """``chosen``: per world, seed and campaign, the learner with the highest
    ``valid_policy_value`` (the validation period's DR value; test figures play no
    part)."""
    keys = ["world", "seed", "campaign"]
    best = results.groupby(keys, sort=False)["valid_policy_value"].idxmax()
    return results.assign(chosen=results.index.isin(best.to_numpy()))


def with_targets(results: pd.DataFrame) -> pd.DataFrame:
    """The issue's targets per cell (1.0 met, 0.0 missed).

    * ``target_oracle``: the true value is at least 90% of the oracle policy's;
    * ``target_lcb_true``: the DR lower bound is above the true value of the best
      static policy (the best by the truth);
    * ``target_lcb_dr``: ... above the DR estimate of the best static policy (the best
      by DR, as the task picks it);
    * ``target_paired``: the paired DR gain over that static policy has its lower bound
      above zero;
    * ``dr_covers_truth``: the DR interval covers the true value (the task's).
    """
    out = results.copy()
    out["target_oracle"] = (out["share_of_oracle"] >= TARGET_SHARE).astype(float)
    out["target_lcb_true"] = (out["policy_value_lower"] > out["true_best_static_true"]).astype(
        float
    )
    out["target_lcb_dr"] = (out["policy_value_lower"] > out["best_static_value"]).astype(float)
    out["target_paired"] = (out["gain_vs_best_static_lower"] > 0).astype(float)
    return out


# -- summaries ---------------------------------------------------------------------------

TARGETS = ("target_oracle", "target_lcb_true", "target_lcb_dr", "target_paired")
LEARNER_METRICS = (
    *("valid_policy_value", "true_policy_value", "share_of_oracle", "policy_value"),
    *("policy_value_lower", "policy_value_upper", "dr_covers_truth", "gain_vs_best_static"),
    *("gain_vs_best_static_lower", *TARGETS, "offer_share", "seconds"),
)


def learner_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per campaign: the chosen learner, then each learner; mean and sd over seeds
    (``chosen``: in how many seeds the learner was chosen)."""
    chosen = results[results["chosen"]].assign(learner="chosen")
    both = pd.concat([chosen, results], ignore_index=True)
    summary = grid.summarise(both, LEARNER_METRICS, by=("campaign", "learner"))
    counts = results.groupby(["campaign", "learner"], sort=False)["chosen"].sum()
    picked = [
        counts.get((c, learner), np.nan) if learner != "chosen" else np.nan
        for c, learner in zip(summary["campaign"], summary["learner"], strict=True)
    ]
    return summary.assign(times_chosen=picked)


def _policy_row(
    label: str, oracle: np.ndarray, true=None, dr=(), lower=(), upper=(), covers=None
) -> dict[str, Any]:
    """Mean and sd over seeds of one policy's figures."""
    true = np.full(len(oracle), np.nan) if true is None else np.asarray(true, float)
    many = len(oracle) > 1

    def sd(x) -> float:
        x = np.asarray(x, float)
        return float(np.std(x, ddof=1)) if many and np.isfinite(x).all() else np.nan

    def mean(x) -> float:
        x = np.asarray(x, float)
        return float(x.mean()) if len(x) and np.isfinite(x).all() else np.nan

    return {
        "policy": label,
        "seeds": len(oracle),
        "true": mean(true),
        "true_sd": sd(true),
        "dr": mean(dr),
        "dr_sd": sd(dr),
        "lower": mean(lower),
        "upper": mean(upper),
        "covers": np.nan if covers is None else float(np.sum(covers)),
        "share_of_oracle": mean(true / oracle),
        "share_of_oracle_sd": sd(true / oracle),
    }


def _policy_columns(cells: pd.DataFrame, prefix: str, seeds: pd.Series) -> tuple:
    """``(true, dr, lower, upper, covers)`` of one policy, in the order of ``seeds``."""
    cells = cells.set_index("seed").loc[seeds]
    cols = ("true", "dr", "dr_lower", "dr_upper", "covers")
    return tuple(cells[f"{prefix}_{c}"].to_numpy() for c in cols)


def policy_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per campaign and policy (the chosen learner's cells; logging, static, random and
    oracle are the same for every learner of a seed): true value, DR estimate and
    interval, coverage, share of the oracle; mean and sd over seeds."""
    rows = []
    for campaign, part in results[results["chosen"]].groupby("campaign", sort=False):
        oracle, seeds = part["oracle_true"].to_numpy(), part["seed"]
        here = [
            _policy_row("learned, chosen learner", oracle, *_policy_columns(part, "learned", seeds))
        ]
        for learner in dict.fromkeys(results["learner"]):
            own = results[(results["campaign"] == campaign) & (results["learner"] == learner)]
            here.append(
                _policy_row(
                    f"learned, {learner}-learner", oracle, *_policy_columns(own, "learned", seeds)
                )
            )
        here.append(
            _policy_row(
                "logging (on-policy: mean reward earned)",
                oracle,
                part["logging_true"],
                part["logging_value"],
                part["logging_lower"],
                part["logging_upper"],
                part["logging_covers"],
            )
        )
        names = ", ".join(dict.fromkeys(part["best_static"]))
        here.append(
            _policy_row(
                f"best static by DR ({names})", oracle, *_policy_columns(part, "best_static", seeds)
            )
        )
        names = ", ".join(dict.fromkeys(part["true_best_static"]))
        here.append(
            _policy_row(f"best static by truth ({names})", oracle, part["true_best_static_true"])
        )
        for prefix, label in (
            ("random", "random (uniform over eligible actions)"),
            ("oracle", "oracle (true expected rewards, same constraints)"),
        ):
            here.append(_policy_row(label, oracle, *_policy_columns(part, prefix, seeds)))
        rows += [{"campaign": campaign, **r} for r in here]
    return pd.DataFrame(rows)


def estimator_errors(results: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """Relative error ``|V_hat - V_true| / |V_true|`` per estimator, mean and sd over
    seeds and policies, as the Open Bandit Pipeline compares estimators.

    The policies are those of the chosen learner's cells (the learned policy, each
    static policy, no offer, random, oracle; the logging policy's on-policy row has no
    true value in the task's table); ``learned (every learner)`` is the learned policy
    of every learner. ``covers`` is the share of those policies whose interval covers
    the truth.
    """
    v = values[values["policy"] != "logging"].dropna(subset=["true_value"])
    keys = ["world", "seed", "learner", "campaign"]
    chosen = results.loc[results["chosen"], keys]
    mine = v.merge(chosen, on=keys)
    kind = np.select(
        [
            mine["policy"] == "learned",
            mine["policy"].str.startswith("static ") | (mine["policy"] == "no offer"),
        ],
        ["learned", "static"],
        default=mine["policy"],
    )
    mine = mine.assign(
        kind=kind,
        covers=((mine["lower"] <= mine["true_value"]) & (mine["true_value"] <= mine["upper"])),
    )
    rows = []
    for (campaign, estimator), part in mine.groupby(["campaign", "estimator"], sort=False):
        by_kind = part.groupby("kind")["relative_error"].mean()
        every = v[
            (v["campaign"] == campaign) & (v["estimator"] == estimator) & (v["policy"] == "learned")
        ]
        rows.append(
            {
                "campaign": campaign,
                "estimator": estimator,
                "n": len(part),
                "relative_error": part["relative_error"].mean(),
                "relative_error_sd": part["relative_error"].std(),
                "learned": by_kind.get("learned", np.nan),
                "learned_every": every["relative_error"].mean(),
                "static": by_kind.get("static", np.nan),
                "random": by_kind.get("random", np.nan),
                "oracle": by_kind.get("oracle", np.nan),
                "covers": part["covers"].mean(),
            }
        )
    out = pd.DataFrame(rows)
    rank = {e: i for i, e in enumerate(ESTIMATORS)}
    first = {c: i for i, c in enumerate(dict.fromkeys(out["campaign"]))}
    order = out["campaign"].map(first) * len(rank) + out["estimator"].map(rank)
    return out.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)


# -- the README block --------------------------------------------------------------------


def _f(value: float, digits: int = 2) -> str:
    return "" if pd.isna(value) else f"{value:.{digits}f}"


def _pm(row: Mapping[str, Any], col: str, digits: int = 2) -> str:
    return plus_minus(float(row.get(col, np.nan)), float(row.get(f"{col}_sd", np.nan)), digits)


def _met(value: float) -> str:
    return "met" if value else "missed"


def seed_table(results: pd.DataFrame, campaign: str) -> str:
    """One row per seed: the validation values, the chosen learner and its test figures
    against the oracle and the best static policy, the targets."""
    part = results[results["campaign"] == campaign]
    learners = list(dict.fromkeys(part["learner"]))
    rows = []
    for seed, cells in part.groupby("seed", sort=False):
        c = cells[cells["chosen"]].iloc[0]
        valid = {
            f"valid DR {lr}": _f(cells.set_index("learner").loc[lr, "valid_policy_value"])
            for lr in learners
        }
        rows.append(
            {
                "seed": str(seed),
                **valid,
                "chosen": c["learner"],
                "true value": _f(c["true_policy_value"]),
                "oracle true": _f(c["true_oracle_value"]),
                "share of oracle": _f(c["share_of_oracle"], 3),
                "DR [95% CI]": f"{c['policy_value']:.2f} [{c['policy_value_lower']:.2f}, "
                f"{c['policy_value_upper']:.2f}]",
                "covers": "yes" if c["dr_covers_truth"] else "no",
                "best static by DR: DR / true": f"{c['best_static']}: {c['best_static_value']:.2f}"
                f" / {c['best_static_true']:.2f}",
                "best static true": f"{c['true_best_static']}: {c['true_best_static_true']:.2f}",
                "gain vs best static, lower": _f(c["gain_vs_best_static_lower"]),
                "≥90% oracle": _met(c["target_oracle"]),
                "LCB > static true": _met(c["target_lcb_true"]),
                "LCB > static DR": _met(c["target_lcb_dr"]),
            }
        )
    return to_markdown(pd.DataFrame(rows))


def learner_table(summary: pd.DataFrame, campaign: str, n_seeds: int) -> str:
    part = summary[summary["campaign"] == campaign]
    rows = []
    for r in part.to_dict("records"):

        def k(col: str, r: dict = r) -> str:
            return f"{round(r[col] * n_seeds):.0f}/{n_seeds}"

        rows.append(
            {
                "learner": r["learner"],
                "chosen": ""
                if pd.isna(r["times_chosen"])
                else f"{r['times_chosen']:.0f}/{n_seeds}",
                "valid DR": _pm(r, "valid_policy_value"),
                "true value": _pm(r, "true_policy_value"),
                "share of oracle": _pm(r, "share_of_oracle", 3),
                "DR": _pm(r, "policy_value"),
                "DR lower": _pm(r, "policy_value_lower"),
                "DR covers truth": k("dr_covers_truth"),
                "gain vs best static (DR, paired)": _pm(r, "gain_vs_best_static"),
                "its lower": _pm(r, "gain_vs_best_static_lower"),
                "≥90% oracle": k("target_oracle"),
                "LCB > static true": k("target_lcb_true"),
                "LCB > static DR": k("target_lcb_dr"),
                "offered": _pm(r, "offer_share", 2),
                "fit s": _f(r["seconds"], 0),
            }
        )
    return to_markdown(pd.DataFrame(rows))


def policies_markdown(table: pd.DataFrame, campaign: str) -> str:
    part = table[table["campaign"] == campaign]
    rows = []
    for r in part.to_dict("records"):
        n = int(r["seeds"])
        rows.append(
            {
                "policy": r["policy"],
                "true value": _pm(r, "true"),
                "DR estimate": _pm(r, "dr"),
                "mean 95% interval": ""
                if pd.isna(r.get("lower"))
                else f"[{r['lower']:.2f}, {r['upper']:.2f}]",
                "interval covers truth": ""
                if pd.isna(r.get("covers"))
                else f"{r['covers']:.0f}/{n}",
                "share of oracle (true)": _pm(r, "share_of_oracle", 3),
            }
        )
    return to_markdown(pd.DataFrame(rows))


def errors_markdown(errors: pd.DataFrame, campaign: str) -> str:
    part = errors[errors["campaign"] == campaign]
    rows = [
        {
            "estimator": r["estimator"],
            "relative error, all policies": _pm(r, "relative_error", 3),
            "learned (chosen)": _f(r["learned"], 3),
            "learned (every learner)": _f(r["learned_every"], 3),
            "static (8)": _f(r["static"], 3),
            "random": _f(r["random"], 3),
            "oracle": _f(r["oracle"], 3),
            "interval covers truth": f"{r['covers']:.0%}",
        }
        for r in part.to_dict("records")
    ]
    return to_markdown(pd.DataFrame(rows))


def verdicts(results: pd.DataFrame, campaign: str) -> str:
    """The targets, per seed and overall, for the chosen learner."""
    c = results[(results["campaign"] == campaign) & results["chosen"]].sort_values("seed")
    n = len(c)

    def seeds(col: str, fmt) -> str:
        return ", ".join(
            f"{s}: {fmt(r)} ({_met(r[col])})"
            for s, r in zip(c.seed, c.to_dict("records"), strict=True)
        )

    def overall(col: str, need: int) -> str:
        k = int(c[col].sum())
        return f"**{_met(k >= need)}** ({k}/{n} seeds)"

    share = c["share_of_oracle"]
    lines = [
        f"* **True value ≥ 90% of the oracle's**: {overall('target_oracle', n)}; "
        f"share of oracle {share.mean():.3f} ± {share.std():.3f} (min {share.min():.3f}). "
        "Per seed: " + seeds("target_oracle", lambda r: format(r["share_of_oracle"], ".3f")) + ".",
        "* **DR lower bound above the best static policy's value.** "
        f"Against its true value: {overall('target_lcb_true', n)}; "
        f"against its DR estimate: {overall('target_lcb_dr', n)}; "
        f"paired (the lower bound of the DR gain over it above 0): {overall('target_paired', n)}. "
        "Per seed, lower bound vs the best static's true value / DR estimate: "
        + ", ".join(
            f"{r['seed']}: {r['policy_value_lower']:.2f} vs {r['true_best_static_true']:.2f} / "
            f"{r['best_static_value']:.2f}"
            for r in c.to_dict("records")
        )
        + ".",
        f"* **DR interval covers the truth in ≥ 4 of 5 seeds**: "
        f"{overall('dr_covers_truth', int(np.ceil(TARGET_COVERS * n)))}. Per seed: "
        + ", ".join(
            f"{r['seed']}: {r['true_policy_value']:.2f} in [{r['policy_value_lower']:.2f}, "
            f"{r['policy_value_upper']:.2f}] ({'yes' if r['dr_covers_truth'] else 'no'})"
            for r in c.to_dict("records")
        )
        + ".",
    ]
    return "\n".join(lines)


def report(results: pd.DataFrame, values: pd.DataFrame, wall_seconds: float) -> str:
    """The README block: per campaign, the per-seed table, the learners, the policies,
    the estimators' errors and the targets; the runtime."""
    summary = learner_summary(results)
    policies = policy_table(results)
    errors = estimator_errors(results, values)
    n = results["seed"].nunique()
    blocks = []
    for campaign in dict.fromkeys(results["campaign"]):
        blocks += [
            f"### Campaign: {campaign}",
            "Per seed (the learner chosen by the validation DR value; test figures):",
            seed_table(results, campaign),
            "Targets (chosen learner):",
            verdicts(results, campaign),
            f"Learners (mean ± sd over {n} seeds; `chosen`: the learner picked per seed):",
            learner_table(summary, campaign, n),
            f"Policies on the test contacts (mean ± sd over {n} seeds):",
            policies_markdown(policies, campaign),
            "Off-policy estimators: relative error |V̂ − V| / V against the truth "
            "(mean ± sd over seeds and the 11 policies of the chosen learner's cells; "
            "columns by policy are means):",
            errors_markdown(errors, campaign),
        ]
    seeds = ", ".join(map(str, sorted(results["seed"].unique())))
    prepare = results.drop_duplicates("seed")["world_seconds"]
    fits = results.groupby("learner", sort=False)["seconds"].mean()
    blocks.append(
        f"Model `{results['model'].iloc[0]}`, seeds {seeds}; "
        f"{int(results['n_test'].mean()):,} test and "
        f"{int(results['n_train_contacts'].mean()):,} training contacts per world on average. "
        f"Runtime {wall_seconds / 60:.0f} min: world + features {prepare.mean():.0f} s per seed; "
        "fit and OPE per cell "
        + ", ".join(f"{lr}-learner {s:.0f} s" for lr, s in fits.items())
        + "."
    )
    return "\n\n".join(blocks)


def logged_metrics(results: pd.DataFrame) -> dict[str, float]:
    """The chosen learner's headline figures per campaign, for MLflow."""
    out = {}
    for campaign, part in results[results["chosen"]].groupby("campaign", sort=False):
        key = grid._metric_name(campaign)
        for m in ("true_policy_value", "share_of_oracle", "policy_value", "dr_covers_truth"):
            out[f"{key}.{m}"] = float(part[m].mean())
    return out


# -- the command ---------------------------------------------------------------------------


def main(
    overrides: Annotated[list[str] | None, typer.Argument(help="Hydra overrides")] = None,
    seeds: Annotated[int, typer.Option(help="seeds 1..N (world and model)")] = 5,
    learners: Annotated[str, typer.Option(help="comma-separated task.learner values")] = ",".join(
        LEARNERS
    ),
    budget: Annotated[bool, typer.Option(help="also the 30%-budget campaign")] = True,
    out_dir: Annotated[Path, typer.Option(help="where results.csv and README.md live")] = OUT_DIR,
    report_only: Annotated[
        bool, typer.Option(help="re-render the README from the results files, fit nothing")
    ] = False,
) -> None:
    """Run every seed x learner x campaign, print the block, write the results and the
    README tables, log one MLflow run."""
    grid.one_thread()  # two LightGBM threads on two shared cores spin: cells ran 6 s to 5 min
    console = Console(width=max(Console().width, 120))
    overrides = list(overrides or [])
    names = [x.strip() for x in learners.split(",") if x.strip()]
    campaigns = CAMPAIGNS if budget else {"no budget": CAMPAIGNS["no budget"]}
    files = {"results.csv": out_dir / "results.csv"}
    files["results.policy_values.csv"] = out_dir / "results.policy_values.csv"
    if report_only:  # re-render the tables from the files a run wrote
        results, values = (pd.read_csv(path) for path in files.values())
    else:
        t0 = time.perf_counter()
        results, values = run(range(1, seeds + 1), names, campaigns, overrides, console)
        results["wall_seconds"] = time.perf_counter() - t0
        out_dir.mkdir(parents=True, exist_ok=True)
        for frame, path in zip((results, values), files.values(), strict=True):
            with atomic_file(path) as tmp:  # kept even if the report fails
                frame.to_csv(tmp, index=False, float_format="%.6f")
    text = report(results, values, float(results["wall_seconds"].iloc[0]))
    console.print(text, markup=False, highlight=False)
    args = [f"--seeds {seeds}"] if seeds != 5 else []
    args += [] if tuple(names) == LEARNERS else [f"--learners {','.join(names)}"]
    args += [] if budget else ["--no-budget"]
    grid.publish(
        out_dir,
        text,
        grid.command(MODULE, *args, *overrides),
        {name: frame for name, frame in zip(files, (results, values), strict=True)},
        compose([*BASE, *overrides]).tracking,
        NAME,
        logged_metrics(results),
        {
            "seeds": ", ".join(map(str, sorted(results["seed"].unique()))),
            "learners": ", ".join(dict.fromkeys(results["learner"])),
            "campaigns": ", ".join(dict.fromkeys(results["campaign"])),
            "model": str(results["model"].iloc[0]),
        },
        console=console,
    )


if __name__ == "__main__":
    typer.run(main)
