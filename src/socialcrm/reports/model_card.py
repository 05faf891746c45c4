"""Model cards: what a registered model version is for, what it learnt from, how
well it does (with intervals, by slice, against its baseline), what drives it,
where it falls short and what it never sees. Pure: values in, a card out; the
run edge writes it (``model_card.json``, ``model_card.md``) and links it from the
version's description.

The sections follow the common templates without depending on them: Google's
Model Card Toolkit schema (``model_details``, ``model_parameters.data``,
``quantitative_analysis.performance_metrics`` with ``confidence_interval``,
``considerations``: users, use cases, limitations, ethical considerations) and
Hugging Face's card sections (Model Details, Uses / Out-of-Scope Use, Training
Details, Evaluation with Factors and Results, Model Examination, Bias, Risks and
Limitations). A card holds aggregates only: no customer id, no raw value of a
customer row, no handle, e-mail, text or secret, and no aggregate over fewer than
``min_slice_rows`` rows (:func:`build_model_card` refuses to return a card whose
text holds an identifier of its evaluation rows or a secret it was given).

JSON layout (``schema`` ``socialcrm.model_card/1``)::

    model_details         name, version, alias, task, question, model_type, estimator,
                          kind, output_columns, threshold, calibration, created,
                          owners, references, run_id, model_uri
    intended_use          primary_uses, primary_users, out_of_scope
    data                  name, content_sha256, source, synthetic, period, cutoffs,
                          rows_per_split, customers, evaluation
    features              groups, n_features, by_group [group, n_features, features]
    quantitative_analysis evaluation, interval_method, alpha, n_boot, n_rows,
                          performance_metrics [metric, label, value, lower, upper,
                          method, baseline], baseline, references, grade,
                          calibration, slices, backtest
    explanation           available, method, top_factors, groups
    limitations           [kind, text]
    privacy               consent, hashing, never_sees, model_inputs, card_contents
    formats               metric -> format spec of the task's headline (for rendering)

In Model Card Toolkit terms, a performance metric's ``lower`` / ``upper`` are its
``confidence_interval`` bounds, ``intended_use`` and ``limitations`` its
``considerations``, and ``privacy`` its ethical considerations.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

SCHEMA = "socialcrm.model_card/1"
MIN_SLICE_ROWS = 50

MetricFn = Callable[[pd.DataFrame, pd.DataFrame], Mapping[str, float]]

#: Tenure bands: upper bound in days (exclusive) and label.
TENURE_BANDS: tuple[tuple[float, str], ...] = (
    (183.0, "< 6 months"),
    (365.0, "6-12 months"),
    (730.0, "1-2 years"),
    (math.inf, "2+ years"),
)
UNKNOWN = "unknown"
SPLIT_ORDER = {"train": 0, "gap": 1, "valid": 2, "test": 3}

#: Feature groups built from social data: empty (null) for customers without consent.
SOCIAL_GROUP_PREFIX = "social_"

#: Input names that would mean the model sees an identifier or a text.
IDENTIFIER_NAME = re.compile(
    r"(customer_)?id|.*_id|e-?mail.*|.*_e-?mail|.*_hash|handles?|.*_handles?|"
    r"texts?|.*_texts?|phone(_number)?|.*_phone_number",
    re.IGNORECASE,
)

#: Ranking metrics whose value without signal is known, with the standard error of
#: that null value from the evaluation's size (Mann-Whitney for ROC-AUC; Spearman's
#: rho under independence).
NULL_RANKING: dict[str, tuple[float, Callable[[float, float], float]]] = {
    "roc_auc": (
        0.5,
        lambda n, pos: math.sqrt((n + 1) / (12 * pos * (n - pos))) if 0 < pos < n else math.nan,
    ),
    "spearman": (0.0, lambda n, pos: 1 / math.sqrt(n - 1) if n > 1 else math.nan),
}


# -- per-task defaults ------------------------------------------------------------


@dataclass(frozen=True)
class TaskDefaults:
    """What a card says of a task that its code does not: uses, users, out-of-scope
    uses, the baseline's name and the grading rule (``str.format`` fields are the
    task's attributes)."""

    primary_uses: tuple[str, ...]
    primary_users: tuple[str, ...] = ("CRM, marketing and retention teams", "analysts")
    out_of_scope: tuple[str, ...] = ()
    baseline: str = "the task's baseline"
    grade_rule: str = "A, B or C against the baseline"


COMMON_OUT_OF_SCOPE = (
    "Decisions with legal or similarly significant effects on a person made without "
    "human review (credit, pricing, termination of a contract).",
    "Customers, products, markets or periods unlike the training data: another data set "
    "or feature set, or cutoffs far after the last one in the data.",
    "Inferring sensitive attributes (health, religion, politics, ...) or monitoring an "
    "individual's social-media behaviour.",
)

TASK_DEFAULTS: dict[str, TaskDefaults] = {
    "churn": TaskDefaults(
        primary_uses=(
            "Rank active customers by their risk of leaving in the horizon after a cutoff, "
            "to choose whom a retention campaign contacts (within its budget).",
            "Give the staff who act on a score the factors that raise or lower each "
            "customer's risk (reason codes).",
        ),
        out_of_scope=(
            *COMMON_OUT_OF_SCOPE,
            "Reading the probability as the effect of contacting a customer: it is a risk, "
            "not an uplift; who responds to a retention offer is another question.",
        ),
        baseline="the recency rule (no purchase in the last W/2^k days)",
        grade_rule=(
            "A: churner F1 at least {grade_margin:.0%} above the baseline's; "
            "B: above it; C: not above it"
        ),
    ),
    "clv": TaskDefaults(
        primary_uses=(
            "Estimate each customer's spend in the horizon after a cutoff and rank customers "
            "by value, to target service levels and campaign budgets.",
            "Value a saved customer in the churn campaign (the churn task's value model).",
        ),
        out_of_scope=(
            *COMMON_OUT_OF_SCOPE,
            "Accounting or financial forecasts of revenue: the model ranks customers; its "
            "totals are not audited figures.",
        ),
        baseline="the commercial rule (average monthly spend x expected months)",
        grade_rule=(
            "A: finds at least {grade_points:.0%} (absolute) more of the true top-20% "
            "customers than the baseline; B: more; C: not more"
        ),
    ),
    "nbo": TaskDefaults(
        primary_uses=(
            "Choose per customer the offer (or none) with the highest expected reward under "
            "the campaign's budget, capacity and channel limits.",
            "Judge a new policy off-policy, from logged campaigns, before deploying it.",
        ),
        out_of_scope=(
            *COMMON_OUT_OF_SCOPE,
            "Offers, channels or rewards outside the catalog the model was trained on, or "
            "a logging policy without recorded propensities.",
        ),
        baseline="the logging policy (the offers the last campaigns made)",
        grade_rule=(
            "A: gain over the logging policy with its interval above zero and a gain over "
            "the best static policy (DR); B: above the logging policy; C: not"
        ),
    ),
}


def task_defaults(task: object) -> TaskDefaults:
    """The card's defaults of ``task``: its own ``intended_use``, ``out_of_scope`` and
    ``primary_users`` attributes if it has them, else :data:`TASK_DEFAULTS` by name,
    else generic ones from its ``question``."""
    base = TASK_DEFAULTS.get(getattr(task, "name", ""))
    if base is None:
        base = TaskDefaults(
            primary_uses=(str(getattr(task, "question", "")) or "(not stated)",),
            out_of_scope=COMMON_OUT_OF_SCOPE,
        )
    own = {
        key: tuple(getattr(task, attr))
        for key, attr in (
            ("primary_uses", "intended_use"),
            ("out_of_scope", "out_of_scope"),
            ("primary_users", "primary_users"),
        )
        if getattr(task, attr, None)
    }
    return TaskDefaults(**{**asdict(base), **own})


# -- intervals and slices ---------------------------------------------------------


def _positional(rows: pd.DataFrame, outputs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    if len(rows) != len(outputs):
        raise ValueError(f"rows ({len(rows)}) and outputs ({len(outputs)}) differ in length")
    return rows.reset_index(drop=True), outputs.reset_index(drop=True)


def resample_indices(
    n: int, n_boot: int, rng: np.random.Generator, groups: Sequence | None = None
) -> Iterable[np.ndarray]:
    """Row indices of ``n_boot`` bootstrap resamples of ``n`` rows: rows drawn with
    replacement, or, with ``groups`` (one label per row), whole groups drawn with
    replacement (a cluster bootstrap: a customer's rows stay together)."""
    if groups is None:
        for _ in range(n_boot):
            yield rng.integers(0, n, n)
        return
    codes, _ = pd.factorize(pd.Series(np.asarray(groups)), use_na_sentinel=False)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes)
    starts = np.cumsum(counts) - counts
    for _ in range(n_boot):
        picked = rng.integers(0, len(counts), len(counts))
        lengths = counts[picked]
        # row positions of the picked groups, concatenated without a Python loop
        offsets = np.repeat(starts[picked] - np.cumsum(lengths) + lengths, lengths)
        yield order[offsets + np.arange(lengths.sum())]


def bootstrap_intervals(
    rows: pd.DataFrame,
    outputs: pd.DataFrame,
    metric_fn: MetricFn,
    keys: Sequence[str],
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    groups: Sequence | pd.Series | None = None,
) -> pd.DataFrame:
    """Percentile bootstrap intervals of a task's metrics of a model's outputs.

    Parameters
    ----------
    rows, outputs
        The evaluation rows and the model's outputs on them, row for row.
    metric_fn
        ``metric_fn(rows, outputs) -> dict`` (a task's ``deployed_metrics``).
    keys
        The metrics to report (those ``metric_fn`` does not return are left out).
    n_boot
        Resamples. The cost is ``n_boot + 1`` calls of ``metric_fn`` on as many rows
        as ``rows`` (the resampling itself is vectorised): for churn's metrics on
        about 1,000 rows some 5-10 ms a call, so 200 resamples take 1-2 s.
    alpha
        ``1 - alpha`` intervals.
    seed
        Seed of the resampling.
    groups
        One label per row (e.g. ``customer_id``): resample whole groups, for rows
        that are not independent (several contacts of one customer).

    Returns
    -------
    pandas.DataFrame
        ``metric, value, lower, upper``; bounds are NaN when fewer than half the
        resamples give a finite value (a metric undefined on most resamples).
    """
    rows, outputs = _positional(rows, outputs)
    full = metric_fn(rows, outputs)
    keys = [k for k in keys if k in full]
    draws = np.full((n_boot, len(keys)), np.nan)
    rng = np.random.default_rng(seed)
    labels = None if groups is None else np.asarray(groups)
    for b, idx in enumerate(resample_indices(len(rows), n_boot, rng, labels)):
        m = metric_fn(
            rows.take(idx).reset_index(drop=True), outputs.take(idx).reset_index(drop=True)
        )
        draws[b] = [m.get(k, np.nan) for k in keys]
    finite = np.isfinite(draws)
    enough = finite.sum(axis=0) >= max(n_boot / 2, 1)
    with np.errstate(all="ignore"):
        lo = np.where(enough, _nanquantile(draws, alpha / 2), np.nan)
        hi = np.where(enough, _nanquantile(draws, 1 - alpha / 2), np.nan)
    return pd.DataFrame(
        {"metric": keys, "value": [float(full[k]) for k in keys], "lower": lo, "upper": hi}
    )


def _nanquantile(draws: np.ndarray, q: float) -> np.ndarray:
    out = np.full(draws.shape[1], np.nan)
    for j in range(draws.shape[1]):
        col = draws[:, j][np.isfinite(draws[:, j])]
        if len(col):
            out[j] = np.quantile(col, q)
    return out


def tenure_band(days: Any) -> pd.Series | str:
    """The tenure band (:data:`TENURE_BANDS`) of a number of days, or of each in a
    sequence (a Series with the same index); missing values are ``unknown``."""
    if np.ndim(days) == 0:
        return tenure_band(pd.Series([days])).iloc[0]
    s = pd.to_numeric(pd.Series(days), errors="coerce")
    labels = np.full(len(s), UNKNOWN, dtype=object)
    values = s.to_numpy(float)
    lower = -math.inf
    for upper, label in TENURE_BANDS:
        labels[(values >= lower) & (values < upper)] = label
        lower = upper
    order = [label for _, label in TENURE_BANDS] + [UNKNOWN]
    return pd.Series(pd.Categorical(labels, categories=order, ordered=True), index=s.index)


def consent_flags(rows: pd.DataFrame, consent: pd.Series | Mapping | None) -> pd.Series | None:
    """Consent per evaluation row (True, False or NA), from a Series aligned with
    ``rows`` (same index) or a ``customer_id -> consent`` mapping (a dict, or a Series
    indexed by customer id such as ``customers.set_index("customer_id").consent_social``)."""
    if consent is None:
        return None
    if isinstance(consent, pd.Series) and consent.index.equals(rows.index):
        flags = consent
    elif "customer_id" in rows.columns:
        lookup = consent if isinstance(consent, pd.Series) else pd.Series(dict(consent))
        flags = rows["customer_id"].map(lookup)
    else:
        raise ValueError(
            "consent must be aligned with the rows (same index) or keyed by customer_id, "
            "and the rows have no customer_id"
        )
    return flags.astype("boolean").set_axis(rows.index)


def default_slices(
    rows: pd.DataFrame, consent: pd.Series | Mapping | None = None
) -> dict[str, pd.Series]:
    """The slices a card reports: plan, region, age band, tenure band and consent,
    whichever the rows (and ``consent``, see :func:`consent_flags`) provide."""
    out: dict[str, pd.Series] = {}
    for name, column in (("plan", "plan"), ("region", "region"), ("age band", "age_band")):
        if column in rows.columns:
            out[name] = rows[column].astype("string").fillna(UNKNOWN)
    if "tenure_days" in rows.columns:
        out["tenure band"] = tenure_band(rows["tenure_days"])
    flags = consent_flags(rows, consent)
    if flags is not None:
        text = np.where(
            flags.isna(), UNKNOWN, np.where(flags.fillna(False), "consented", "not consented")
        )
        out["consent"] = pd.Series(text, index=rows.index)
    return out


def slice_metrics(
    rows: pd.DataFrame,
    outputs: pd.DataFrame,
    metric_fn: MetricFn,
    slices: Mapping[str, pd.Series],
    keys: Sequence[str],
    min_rows: int = MIN_SLICE_ROWS,
) -> pd.DataFrame:
    """The metrics of each level of each slice, small levels suppressed.

    Parameters
    ----------
    slices
        Slice name -> one level per row (positionally aligned with ``rows``).
    keys
        The metrics to report.
    min_rows
        Levels with fewer rows show no number: not their metrics, not their count,
        not their name. They are pooled into one row per slice, ``level`` naming how
        many levels it holds and ``note`` ``n < min_rows``.

    Returns
    -------
    pandas.DataFrame
        ``slice, level, n, note`` and one column per key (NaN where suppressed or
        where ``metric_fn`` cannot compute it on a level, noted so).
    """
    rows, outputs = _positional(rows, outputs)
    records = []
    for name, levels in slices.items():
        if len(levels) != len(rows):
            raise ValueError(f"slice {name!r} has {len(levels)} values for {len(rows)} rows")
        levels = pd.Series(levels).reset_index(drop=True)
        counts = levels.value_counts(sort=False, dropna=False)
        if isinstance(levels.dtype, pd.CategoricalDtype):
            counts = counts[counts > 0]
        else:
            counts = counts.sort_index()
        small = 0
        for level, n in counts.items():
            if n < min_rows:
                small += 1
                continue
            mask = (levels == level).to_numpy()
            record = {"slice": name, "level": str(level), "n": int(n), "note": ""}
            try:
                m = metric_fn(
                    rows[mask].reset_index(drop=True), outputs[mask].reset_index(drop=True)
                )
            except ValueError:
                m, record["note"] = {}, "not computable"
            record |= {k: _float(m.get(k)) for k in keys}
            records.append(record)
        if small:
            records.append(
                {
                    "slice": name,
                    "level": f"{small} level{'s' if small > 1 else ''}",
                    "n": None,
                    "note": f"n < {min_rows}",
                    **{k: np.nan for k in keys},
                }
            )
    table = pd.DataFrame(records, columns=["slice", "level", "n", "note", *keys])
    table["n"] = table["n"].astype("Int64")
    return table


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# -- summaries --------------------------------------------------------------------


def calibration_summary(
    table: pd.DataFrame, alpha: float = 0.05, min_rows: int = MIN_SLICE_ROWS
) -> dict[str, Any]:
    """How far predictions are from what happened, from a binned table.

    ``table`` is a probability calibration table (``mean_predicted``,
    ``observed_rate``, ``n``: :func:`~socialcrm.evaluation.metrics.calibration_table`)
    or a value decile table (``mean_predicted``, ``mean_actual``, ``n``:
    :func:`~socialcrm.evaluation.value.decile_table`).

    Returns
    -------
    dict
        ``kind`` (``probability`` or ``value``); for probabilities the expected
        calibration error ``ece`` (row-weighted mean absolute gap), ``max_gap`` and
        ``flagged_bins``: bins whose observed rate is further from the predicted one
        than chance explains (binomial standard error of the predicted rate,
        Bonferroni-corrected over the bins at ``alpha``); for values the
        ``decile_mape`` and ``total_ratio`` (predicted / actual). ``table`` holds
        the bins with at least ``min_rows`` rows.
    """
    kind = "probability" if "observed_rate" in table.columns else "value"
    actual = table["observed_rate" if kind == "probability" else "mean_actual"].to_numpy(float)
    pred = table["mean_predicted"].to_numpy(float)
    n = table["n"].to_numpy(float)
    gap = pred - actual
    label = "bin" if "bin" in table.columns else "decile"
    bins = table[label].to_numpy() if label in table.columns else np.arange(len(table))
    shown = [
        {label: int(b), "mean_predicted": float(p), "observed": float(a), "n": int(k)}
        for b, p, a, k in zip(bins, pred, actual, n, strict=True)
        if k >= min_rows
    ]
    out: dict[str, Any] = {"kind": kind, "bins": len(table), "table": shown}
    if kind == "probability":
        z = stats.norm.ppf(1 - alpha / (2 * max(len(table), 1)))
        se = np.sqrt(np.clip(pred * (1 - pred), 1e-12, None) / np.maximum(n, 1))
        flagged = (np.abs(gap) > z * se) & (n >= min_rows)
        out |= {
            "ece": float(np.sum(n * np.abs(gap)) / max(n.sum(), 1)),
            "max_gap": float(np.max(np.abs(gap))) if len(gap) else math.nan,
            "flagged_bins": [
                row for row, f in zip(shown, flagged[n >= min_rows], strict=True) if f
            ],
        }
    else:
        ok = actual > 0
        out |= {
            "decile_mape": float(np.mean(np.abs(gap[ok]) / actual[ok])) if ok.any() else math.nan,
            "total_ratio": float(np.sum(n * pred) / np.sum(n * actual))
            if np.sum(n * actual) > 0
            else math.nan,
        }
    return out


def baseline_without_signal(
    baseline: Mapping[str, float], n: float, positives: float | None, alpha: float = 0.05
) -> list[dict[str, float | str]]:
    """The baseline's ranking metrics (:data:`NULL_RANKING`) that are within noise of
    their value without signal: ``|value - null| < z * se`` with the null's standard
    error on ``n`` rows (``positives`` of them positive, for ROC-AUC)."""
    z = stats.norm.ppf(1 - alpha / 2)
    out = []
    for key, (null, se_of) in NULL_RANKING.items():
        value = _float(baseline.get(key))
        if not math.isfinite(value):
            continue
        se = se_of(float(n), float(positives) if positives is not None else math.nan)
        if math.isfinite(se) and abs(value - null) < z * se:
            out.append({"metric": key, "value": value, "null": null, "half_width": z * se})
    return out


def data_summary(
    frame: pd.DataFrame,
    name: str,
    content_sha256: str | None = None,
    horizon_days: int | None = None,
    source: str | None = None,
    synthetic: bool | None = None,
) -> dict[str, Any]:
    """The ``data`` section from a feature table: cutoffs and rows per split, the
    number of customers, the period its labels cover (last cutoff + horizon).

    Parameters
    ----------
    frame
        The feature table (``cutoff`` and ``split`` columns if it has them).
    name
        The data set (and feature set), e.g. ``synthetic_small/all``.
    content_sha256
        SHA-256 of the feature table's file (the run's ``data.features_sha256`` tag).
    horizon_days
        The label horizon (``features.horizon_days``).
    synthetic
        Whether the data are simulated (None: the name says ``synthetic``).
    """
    out: dict[str, Any] = {
        "name": name,
        "content_sha256": content_sha256,
        "source": source,
        "synthetic": bool("synthetic" in name) if synthetic is None else bool(synthetic),
        "rows": len(frame),
    }
    if "customer_id" in frame.columns:
        out["customers"] = int(frame["customer_id"].nunique())
    if "split" in frame.columns:
        counts = frame["split"].value_counts()
        order = sorted(counts.index, key=lambda s: (SPLIT_ORDER.get(str(s), len(SPLIT_ORDER)), s))
        out["rows_per_split"] = {str(s): int(counts[s]) for s in order}
    if "cutoff" in frame.columns:
        cutoffs = pd.to_datetime(frame["cutoff"])
        by = frame["split"] if "split" in frame.columns else pd.Series("all", index=frame.index)
        out["cutoffs"] = {
            str(split): sorted(_day(c) for c in cutoffs[by == split].unique())
            for split in out.get("rows_per_split", ["all"])
        }
        last = cutoffs.max()
        out["period"] = {
            "first_cutoff": _day(cutoffs.min()),
            "last_cutoff": _day(last),
            "labels_until": _day(last + pd.Timedelta(days=horizon_days)) if horizon_days else None,
        }
    return out


def _day(value: Any) -> str:
    return pd.Timestamp(value).date().isoformat()


# -- the card ---------------------------------------------------------------------


@dataclass
class ModelCard:
    """A model version's card: plain JSON values in sections (see the module docstring).

    Build one with :func:`build_model_card`; ``ModelCard.from_json(card.to_json())``
    gives the same card back.
    """

    model_details: dict[str, Any]
    intended_use: dict[str, Any]
    data: dict[str, Any]
    features: dict[str, Any]
    quantitative_analysis: dict[str, Any]
    explanation: dict[str, Any]
    limitations: list[dict[str, str]]
    privacy: dict[str, Any]
    schema: str = SCHEMA
    formats: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.schema, **{k: v for k, v in asdict(self).items() if k != "schema"}}

    def to_json(self, indent: int | None = 2) -> str:
        """Strict JSON (missing numbers are ``null``)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        return cls(**dict(data))

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        return cls.from_dict(json.loads(text))

    # -- Markdown -----------------------------------------------------------------

    def title(self) -> str:
        d = self.model_details
        version = f" v{d['version']}" if d.get("version") else ""
        return f"Model card: {d.get('name') or d.get('task')}{version}"

    def _fmt(self, key: str, value: Any) -> str:
        return _fmt(value, self.formats.get(key))

    def summary_markdown(self, card_link: str | None = None) -> str:
        """A few lines for the registered version's description: what it answers, the
        headline metrics with intervals against the baseline, the grade, the main
        limitations, and a link to the whole card."""
        q = self.quantitative_analysis
        grade = (q.get("grade") or {}).get("value", "n/a")
        baseline = (q.get("baseline") or {}).get("name", "the baseline")
        lines = [f"**{self.model_details.get('question', '')}**", ""]
        lines += self._metrics_table(q.get("performance_metrics", [])[:4])
        lines += ["", f"Grade **{grade}** against {baseline}."]
        lines += [f"- {item['text']}" for item in self.limitations[:3]]
        if card_link:
            lines += ["", f"Model card: [{card_link}]({card_link})"]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """The card as Markdown (CommonMark with GitHub tables: what the MLflow UI and
        :func:`socialcrm.reports.markdown.to_html` render)."""
        sections = (
            [f"# {self.title()}", "", f"**{self.model_details.get('question', '')}**"],
            ["## Model details", "", *self._md_details()],
            ["## Intended use", "", *self._md_uses()],
            ["## Data", "", *self._md_data()],
            ["## Features", "", *self._md_features()],
            ["## Quantitative analysis", "", *self._md_quantitative()],
            ["## Explanation", "", *self._md_explanation()],
            ["## Limitations", "", *self._md_limitations()],
            ["## Privacy", "", *self._md_privacy()],
        )
        return "\n\n".join("\n".join(s) for s in sections).rstrip() + "\n"

    def _metrics_table(self, perf: Sequence[Mapping[str, Any]]) -> list[str]:
        alpha = self.quantitative_analysis.get("alpha", 0.05)
        body = []
        for p in perf:
            key, lo, hi = p["metric"], p.get("lower"), p.get("upper")
            interval = (
                f"{self._fmt(key, lo)} – {self._fmt(key, hi)}" if None not in (lo, hi) else ""
            )
            body.append(
                [
                    p["label"],
                    self._fmt(key, p["value"]),
                    interval,
                    self._fmt(key, p.get("baseline")),
                    p.get("method", ""),
                ]
            )
        header = ["metric", "model", f"{1 - alpha:.0%} interval", "baseline", "interval from"]
        return _md_table(header, body)

    def _md_details(self) -> list[str]:
        d = self.model_details
        pairs = [
            ("task", d.get("task")),
            ("registered model", d.get("name")),
            ("version", d.get("version")),
            ("alias", d.get("alias")),
            ("model type", d.get("model_type")),
            ("estimator", d.get("estimator")),
            ("outputs", ", ".join(d.get("output_columns") or [])),
            ("decision threshold", _fmt(d.get("threshold"), ".4f")),
            ("calibration", d.get("calibration")),
            ("created", d.get("created")),
            ("owners", ", ".join(d.get("owners") or [])),
            ("MLflow run", d.get("run_id")),
            ("model URI", d.get("model_uri")),
        ]
        out = _md_table(["", ""], [[k, _fmt(v)] for k, v in pairs if v not in (None, "")])
        refs = [f"- {r}" for r in d.get("references") or []]
        return out + (["", "References:", "", *refs] if refs else [])

    def _md_uses(self) -> list[str]:
        u = self.intended_use
        return [
            "Primary uses:",
            "",
            *[f"- {x}" for x in u.get("primary_uses", [])],
            "",
            "Primary users: " + ", ".join(u.get("primary_users", [])) + ".",
            "",
            "### Out of scope",
            "",
            *[f"- {x}" for x in u.get("out_of_scope", [])],
        ]

    def _md_data(self) -> list[str]:
        data = self.data
        period = data.get("period") or {}
        cutoffs = f"{period.get('first_cutoff')} to {period.get('last_cutoff')}" if period else None
        pairs = [
            ("data set", data.get("name")),
            ("content SHA-256", data.get("content_sha256")),
            ("synthetic", data.get("synthetic")),
            ("rows", data.get("rows")),
            ("customers", data.get("customers")),
            ("cutoffs", cutoffs),
            ("labels observed until", period.get("labels_until")),
        ]
        out = _md_table(["", ""], [[k, _fmt(v)] for k, v in pairs if v not in (None, "")])
        if data.get("rows_per_split"):
            cut = data.get("cutoffs") or {}
            body = [
                [s, _fmt(n), ", ".join(cut.get(s, []))] for s, n in data["rows_per_split"].items()
            ]
            out += ["", *_md_table(["split", "rows", "cutoffs"], body)]
        ev = data.get("evaluation") or {}
        if ev:
            out += ["", f"Evaluation rows: {ev.get('description', '')} ({_fmt(ev.get('rows'))})."]
        return out

    def _md_features(self) -> list[str]:
        f = self.features
        body = [
            [
                g["group"],
                _fmt(g["n_features"]),
                ", ".join(g["features"][:6]) + (", ..." if len(g["features"]) > 6 else ""),
            ]
            for g in f.get("by_group", [])
        ]
        groups = ", ".join(f.get("groups", []))
        return [
            f"{f.get('n_features', 0)} input features from the groups {groups}.",
            "",
            *_md_table(["group", "features", "examples"], body),
        ]

    def _md_quantitative(self) -> list[str]:
        q = self.quantitative_analysis
        grade, base = q.get("grade") or {}, q.get("baseline") or {}
        out = [
            f"Evaluation: {q.get('evaluation_text', '')}; {_fmt(q.get('n_rows'))} rows; "
            f"intervals: {q.get('interval_method', '')}.",
            "",
            "### Test metrics",
            "",
            *self._metrics_table(q.get("performance_metrics", [])),
            "",
            "### Baseline and grade",
            "",
            f"Baseline: {base.get('name', '')}. Grade **{grade.get('value', 'n/a')}** "
            f"({grade.get('rule', '')}).",
        ]
        refs = q.get("references") or {}
        perf = q.get("performance_metrics", [])
        shown = [p for p in perf if any(m.get(p["metric"]) is not None for m in refs.values())]
        if shown:
            body = [
                [r, *[self._fmt(p["metric"], m.get(p["metric"])) for p in shown]]
                for r, m in refs.items()
            ]
            header = ["reference", *(p["label"] for p in shown)]
            out += ["", "Reference models:", "", *_md_table(header, body)]
        out += ["", "### Calibration", "", *self._md_calibration(q.get("calibration"))]
        out += ["", "### Metrics by slice", "", *self._md_slices(q.get("slices") or {})]
        bt = q.get("backtest")
        if bt:
            out += [
                "",
                f"Backtest over {bt['origins']} origins: {bt['metric']} mean "
                f"{_fmt(bt['mean'], '.3f')}, sd {_fmt(bt['sd'], '.3f')}.",
            ]
        return out

    @staticmethod
    def _md_calibration(cal: Mapping[str, Any] | None) -> list[str]:
        if not cal:
            return ["No calibration table for this task."]
        if cal["kind"] == "probability":
            text = (
                f"Expected calibration error {_fmt(cal['ece'], '.4f')}, largest gap "
                f"{_fmt(cal['max_gap'], '.4f')} over {cal['bins']} score bins; "
                f"{len(cal['flagged_bins'])} bin(s) off by more than chance explains."
            )
        else:
            text = (
                f"Decile MAPE {_fmt(cal['decile_mape'], '.3f')}; predicted / actual total "
                f"{_fmt(cal['total_ratio'], '.3f')}."
            )
        label = "bin" if cal["table"] and "bin" in cal["table"][0] else "decile"
        body = [
            [
                _fmt(r[label]),
                _fmt(r["mean_predicted"], ".4g"),
                _fmt(r["observed"], ".4g"),
                _fmt(r["n"]),
            ]
            for r in cal["table"]
        ]
        return [text, "", *_md_table([label, "mean predicted", "observed", "n"], body)]

    def _md_slices(self, sl: Mapping[str, Any]) -> list[str]:
        if not sl.get("table"):
            return ["No slice columns in the evaluation rows."]
        keys = sl["keys"]
        body = [
            [
                r["slice"],
                r["level"],
                r["note"] if r["n"] is None else _fmt(r["n"]),
                *[self._fmt(k, r.get(k)) for k in keys],
            ]
            for r in sl["table"]
        ]
        note = f" {sl['note']}" if sl.get("note") else ""
        return [
            f"Levels with fewer than {sl['min_rows']} rows are pooled and not shown.{note}",
            "",
            *_md_table(["slice", "level", "n", *keys], body),
        ]

    def _md_explanation(self) -> list[str]:
        e = self.explanation
        if not e.get("available"):
            return [e.get("note") or "No explanation was computed."]
        body = [
            [
                t["feature"],
                t.get("group") or "",
                _fmt(t["mean_abs_contribution"], ".4g"),
                t.get("direction") or "",
            ]
            for t in e.get("top_factors", [])
        ]
        out = [
            f"Method: {e.get('method', '')}.",
            "",
            *_md_table(["feature", "group", "mean abs contribution", "direction"], body),
        ]
        if e.get("groups"):
            body = [[g["group"], _fmt(g["share"], ".1%")] for g in e["groups"]]
            out += ["", *_md_table(["feature group", "share of contributions"], body)]
        return out

    def _md_limitations(self) -> list[str]:
        return [f"- {x['text']}" for x in self.limitations] or ["- None found by the checks."]

    def _md_privacy(self) -> list[str]:
        p = self.privacy
        out = [(p.get("consent") or {}).get("text", "")]
        out += ["", "Identifiers:", "", *[f"- {x}" for x in p.get("hashing", [])]]
        out += ["", "The model never sees:", "", *[f"- {x}" for x in p.get("never_sees", [])]]
        inputs = (p.get("model_inputs") or {}).get("text")
        if inputs:
            out += ["", inputs]
        return [*out, "", p.get("card_contents", "")]


def _fmt(value: Any, spec: str | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{value:,}"
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return ""
        if spec:
            return format(value, spec)
        return (
            f"{value:,.0f}"
            if abs(value) >= 1000
            else f"{value:.3g}"
            if abs(value) < 0.01
            else f"{value:.3f}"
        )
    return str(value)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(_cell(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in body]


def plain(obj: Any) -> Any:
    """``obj`` as JSON values: NumPy scalars as Python ones, NaN as None, dates as ISO
    strings, tuples as lists, DataFrames as lists of records."""
    if isinstance(obj, pd.DataFrame):
        return plain(obj.to_dict(orient="records"))
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | np.ndarray | pd.Series):
        return [plain(v) for v in obj]
    if obj is None or obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, pd.Timestamp | datetime):
        return obj.isoformat()
    return str(obj)


# -- building ---------------------------------------------------------------------


def _metric_keys(task: object, available: Iterable[str]) -> list[str]:
    available = set(available)
    keys = [getattr(task, "metric", None), *(h.key for h in getattr(task, "headline", ()))]
    # a headline's interval bounds are shown as the interval of their metric
    return [
        k
        for k in dict.fromkeys(keys)
        if k and k in available and not k.endswith(("_lower", "_upper"))
    ]


def _fold_intervals(
    metrics: Mapping[str, float], keys: Sequence[str], k: int, alpha: float
) -> pd.DataFrame:
    """``mean ± t * sd / sqrt(k)`` over ``k`` cross-validation folds."""
    t = stats.t.ppf(1 - alpha / 2, max(k - 1, 1))
    rows = []
    for key in keys:
        mean, sd = _float(metrics.get(key)), _float(metrics.get(f"{key}_sd"))
        half = t * sd / math.sqrt(k) if k > 1 and math.isfinite(sd) else math.nan
        rows.append({"metric": key, "value": mean, "lower": mean - half, "upper": mean + half})
    return pd.DataFrame(rows, columns=["metric", "value", "lower", "upper"])


def _evaluation_description(rows: pd.DataFrame, cv: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": len(rows)}
    if cv:
        out["description"] = "every labelled row of the customer table (cross-validated)"
    elif "cutoff" in rows.columns:
        cutoffs = sorted(_day(c) for c in pd.to_datetime(rows["cutoff"]).unique())
        out["description"] = f"the labelled rows of the test cutoff {', '.join(cutoffs)}"
        out["cutoffs"] = cutoffs
    elif "timestamp" in rows.columns:
        t = pd.to_datetime(rows["timestamp"])
        out["period"] = {"from": _day(t.min()), "to": _day(t.max())}
        out["description"] = f"the test period's rows, {_day(t.min())} to {_day(t.max())}"
    else:
        out["description"] = "the labelled test rows"
    return out


def _features_section(
    model_features: Sequence[str],
    manifest: Sequence[Mapping[str, str]],
    groups: Sequence[str] | None,
) -> dict[str, Any]:
    group_of = {m["name"]: m.get("group", "other") for m in manifest}
    order = list(
        dict.fromkeys([*(groups or []), *(group_of.get(c, "other") for c in model_features)])
    )
    by_group = []
    for g in order:
        names = [c for c in model_features if group_of.get(c, "other") == g]
        if names:
            by_group.append({"group": g, "n_features": len(names), "features": names})
    used = {g["group"] for g in by_group}
    return {
        "groups": [g for g in order if g in used],
        "requested_groups": list(groups or []),
        "n_features": len(model_features),
        "by_group": by_group,
    }


def _explanation_section(result, manifest, top: int) -> dict[str, Any]:
    imp = result.tables.get("shap_importance")
    if imp is None or imp.empty:
        return {
            "available": False,
            "method": None,
            "top_factors": [],
            "groups": [],
            "note": "No SHAP explanation was computed for this version (task.explain off or "
            "a model SHAP cannot explain).",
        }
    group_of = {m["name"]: m.get("group") for m in manifest}
    imp = imp.sort_values("mean_abs_contribution", ascending=False).head(top)
    factors = [
        {
            "feature": r["feature"],
            "group": group_of.get(r["feature"]),
            "mean_abs_contribution": r["mean_abs_contribution"],
            "direction": r.get("direction"),
        }
        for r in imp.to_dict(orient="records")
    ]
    grp = result.tables.get("shap_groups")
    groups = (
        [{"group": r["group"], "share": r["share"]} for r in grp.to_dict(orient="records")]
        if grp is not None
        else []
    )
    return {
        "available": True,
        "method": "SHAP: mean absolute contribution to the score's margin on the test rows",
        "top_factors": factors,
        "groups": groups,
    }


def _consent_section(
    rows: pd.DataFrame,
    consent: pd.Series | Mapping | None,
    model_features: Sequence[str],
    manifest: Sequence[Mapping[str, str]],
    min_rows: int,
) -> dict[str, Any]:
    social = [
        m["name"]
        for m in manifest
        if str(m.get("group", "")).startswith(SOCIAL_GROUP_PREFIX) and m["name"] in model_features
    ]
    rule = (
        "Social features (groups social_*) are built only from accounts customers consented "
        "to link (customers.consent_social); for a customer without consent every social "
        "feature is empty (null), and their accounts count for no one else's features."
    )
    out: dict[str, Any] = {"column": "consent_social", "social_features": len(social), "rule": rule}
    flags = consent_flags(rows, consent)
    if flags is None:
        out["text"] = rule + " (Consent per evaluation row was not supplied to the card.)"
        return out
    known = flags.dropna()
    n_yes, n_no = int(known.sum()), int((~known).sum())
    if min(n_yes, n_no) >= min_rows or (n_no == 0 and n_yes >= min_rows):
        out["share_consented"] = n_yes / max(len(known), 1)
    verified = None
    present = [c for c in social if c in rows.columns]
    if present and n_no:
        refused = flags.eq(False).fillna(False).to_numpy(bool)
        verified = bool(rows.loc[refused, present].isna().all().all())
    out["gate_verified"] = verified
    share = out.get("share_consented")
    text = rule
    if share is not None:
        text += f" {share:.1%} of the evaluation rows' customers consented."
    if verified is True:
        text += (
            " Checked on the evaluation rows: every social feature of the customers "
            "without consent is empty."
        )
    elif verified is False:
        text += (
            " WARNING: some customers without consent have social feature values in the "
            "evaluation rows."
        )
    out["text"] = text
    return out


def _limitations(
    task,
    result,
    defaults: TaskDefaults,
    card: ModelCard,
    slices: pd.DataFrame | None,
    calibration: Mapping[str, Any] | None,
    cv: bool,
    n: int,
    positives: float | None,
    alpha: float,
    min_rows: int,
) -> list[dict[str, str]]:
    """Known limitations, each derived from the card's numbers: ``kind`` and ``text``."""
    data, privacy = card.data, card.privacy
    perf = card.quantitative_analysis["performance_metrics"]
    out: list[dict[str, str]] = []

    def add(kind: str, text: str) -> None:
        out.append({"kind": kind, "text": text})

    labels = {h.key: h.label.strip() for h in getattr(task, "headline", ())}
    size = f"{n:,} rows" + (f", {positives:,.0f} positive" if positives is not None else "")
    for item in baseline_without_signal(result.baseline_metrics, n, positives, alpha):
        add(
            "baseline_no_signal",
            f"The baseline, {defaults.baseline}, carries no signal here: its "
            f"{labels.get(item['metric'], item['metric'])} {item['value']:.3f} is within noise "
            f"of {item['null']:g} (±{item['half_width']:.3f} at {1 - alpha:.0%} on {size}); "
            "beating it says little, so judge the model by its intervals and the reference "
            "models.",
        )
    for p in perf:
        b, lo, hi = p.get("baseline"), p.get("lower"), p.get("upper")
        if (
            p["metric"] == getattr(task, "metric", None)
            and None not in (b, lo, hi)
            and lo <= b <= hi
        ):
            add(
                "not_above_baseline",
                f"The baseline's {p['label']} ({_fmt(b)}) lies inside the model's "
                f"{1 - alpha:.0%} interval ({_fmt(lo)} – {_fmt(hi)}): on these rows the model "
                "is not clearly better on the task's metric.",
            )
    if result.grade == "C":
        add("grade_c", "Grade C: the model does not beat its baseline on the grading metric.")
    if cv:
        add(
            "cv_only",
            "Evaluated by cross-validation on one customer table without time: there is no "
            "out-of-time test, and the deployed model was refitted on every row, so its "
            "metrics by slice are in-sample (optimistic).",
        )
    else:
        ev = data.get("evaluation") or {}
        cutoffs = ev.get("cutoffs") or []
        if len(cutoffs) == 1 and "backtest" not in result.tables:
            add(
                "single_test_cutoff",
                f"Tested on one cutoff ({cutoffs[0]}): how performance varies between "
                "cutoffs (seasonality, drift) is not measured here (split.test_cutoffs > 1 "
                "runs a backtest).",
            )
    if data.get("synthetic"):
        add(
            "synthetic_data",
            "Trained and tested on simulated data: the numbers describe the simulator's "
            "world, not real customers.",
        )
    if slices is not None and len(slices):
        pooled = slices[slices["note"].str.startswith("n <")]
        if len(pooled):
            names = ", ".join(pooled["slice"])
            add(
                "small_slices",
                f"Some levels of {names} have fewer than {min_rows} evaluation rows: their "
                "performance is unknown (pooled and not shown).",
            )
    if calibration and calibration.get("flagged_bins"):
        worst = max(
            calibration["flagged_bins"], key=lambda r: abs(r["mean_predicted"] - r["observed"])
        )
        way = "over" if worst["mean_predicted"] > worst["observed"] else "under"
        add(
            "miscalibration",
            f"Probabilities are off in {len(calibration['flagged_bins'])} score bin(s) by more "
            f"than chance explains; the worst {way}states the rate (predicted "
            f"{worst['mean_predicted']:.3f}, observed {worst['observed']:.3f}).",
        )
    ess = _float(result.metrics.get("ess"))
    if math.isfinite(ess) and n and ess < 0.1 * n:
        add(
            "low_effective_sample",
            f"The off-policy estimate rests on an effective sample of {ess:,.0f} of {n:,} "
            "contacts: its intervals are wide and sensitive to the propensities.",
        )
    if not card.explanation.get("available"):
        add("no_explanation", "No SHAP explanation was computed for this version.")
    if (privacy.get("model_inputs") or {}).get("identifier_like"):
        add(
            "identifier_inputs",
            "Some model inputs are named like identifiers or texts: "
            + ", ".join(privacy["model_inputs"]["identifier_like"]),
        )
    if (privacy.get("consent") or {}).get("gate_verified") is False:
        add(
            "consent_gate", "Customers without consent have social feature values: check the build."
        )
    return out


def privacy_problems(text: str, ids: Iterable[Any] = (), secrets: Iterable[str] = ()) -> list[str]:
    """What a card's text must not hold: the customer ids among ``ids`` it contains
    (ids with a letter or at least 6 characters: short numbers would match counts),
    and any of ``secrets`` (at least 4 characters long)."""
    problems = []
    for s in secrets:
        if s and len(str(s)) >= 4 and str(s) in text:
            problems.append("a secret value")
    tokens = set(re.findall(r"[\w\-.@]+", text))
    tokens |= {t.strip(".-") for t in tokens}
    found = [
        str(i)
        for i in {str(v) for v in ids if v is not None}
        if (re.search(r"[A-Za-z]", i) or len(i) >= 6) and i in tokens
    ]
    if found:
        problems.append(f"{len(found)} customer id(s)")
    return problems


def _test_metrics(
    task: Any,
    result: Any,
    rows: pd.DataFrame,
    outputs: pd.DataFrame,
    full: Mapping[str, float],
    keys: Sequence[str],
    cv: bool,
    intervals: pd.DataFrame | None,
    n_boot: int,
    alpha: float,
    seed: int,
) -> tuple[list[dict[str, Any]], str]:
    """The performance metrics with their intervals and baseline values, and how the
    intervals were made."""
    methods: dict[str, str] = {}
    if intervals is not None:
        method = "given"
        methods |= dict.fromkeys(intervals["metric"], "given")
    elif cv:
        k = len(result.tables["cv_folds"]) if "cv_folds" in result.tables else 5
        intervals = _fold_intervals(result.metrics, keys, k, alpha)
        method = f"t interval over the {k} cross-validation folds' metrics"
        methods |= dict.fromkeys(keys, f"t over {k} CV folds")
    else:
        m = result.metrics
        own = [k for k in keys if f"{k}_lower" in m and f"{k}_upper" in m]
        parts = [
            pd.DataFrame(
                {
                    "metric": own,
                    "value": [m[k] for k in own],
                    "lower": [m[f"{k}_lower"] for k in own],
                    "upper": [m[f"{k}_upper"] for k in own],
                }
            )
        ]
        methods |= dict.fromkeys(own, "task's estimator")
        boot = [k for k in keys if k in full and k not in own]
        by = "customers" if "customer_id" in rows.columns else "rows"
        if boot and n_boot > 0:
            groups = rows["customer_id"].to_numpy() if by == "customers" else None
            parts.append(
                bootstrap_intervals(
                    rows, outputs, task.deployed_metrics, boot, n_boot, alpha, seed, groups
                )
            )
            methods |= dict.fromkeys(boot, f"bootstrap over {by}")
        intervals = pd.concat([p for p in parts if len(p)] or parts, ignore_index=True)
        method = (
            f"percentile bootstrap over {by} ({n_boot} resamples), or the task's own "
            "estimator where it has one"
        )
    by_key = {r["metric"]: r for r in intervals.to_dict(orient="records")}
    labels = {h.key: h.label.strip() for h in getattr(task, "headline", ())}
    perf = []
    for k in keys:
        r = by_key.get(k, {})
        value = r.get("value")
        if value is None:
            value = result.metrics.get(k) if cv or k not in full else full[k]
        perf.append(
            {
                "metric": k,
                "label": labels.get(k, k),
                "value": value,
                "lower": r.get("lower"),
                "upper": r.get("upper"),
                "method": methods.get(k, "run (no interval)"),
                "baseline": result.baseline_metrics.get(k),
            }
        )
    return plain(perf), method


def _privacy_section(
    rows: pd.DataFrame,
    consent: pd.Series | None,
    model_features: Sequence[str],
    manifest: Sequence[Mapping[str, str]],
    min_rows: int,
) -> dict[str, Any]:
    flagged = [c for c in model_features if IDENTIFIER_NAME.fullmatch(c)]
    checked = (
        f"Checked: none of the {len(model_features)} model inputs is an identifier, hash or "
        "text column."
        if not flagged
        else "WARNING: inputs named like identifiers or texts: " + ", ".join(flagged)
    )
    return {
        "consent": _consent_section(rows, consent, model_features, manifest, min_rows),
        "hashing": [
            "Customer ids never enter the model; where a table names customers (reason codes, "
            "referral lists) they appear as keyed BLAKE2b hashes under the data set's salt, "
            "which no artifact contains.",
            "E-mail addresses and phone numbers are stored only as salted hashes "
            "(email_hash, phone_hash) and are used only to link records, never as features.",
            "Social handles are hashed at ingestion and used only to link accounts of "
            "consenting customers.",
        ],
        "never_sees": [
            "customer ids, names, e-mail addresses or phone numbers (hashed or not)",
            "social-media handles or account ids",
            "post or message texts (only aggregated sentiment of consenting customers' posts)",
            "any social data of customers without consent",
        ],
        "model_inputs": {"n": len(model_features), "identifier_like": flagged, "text": checked},
        "card_contents": (
            f"This card holds aggregates only, each over at least {min_rows} rows: no "
            "customer id, no value of a customer's row, no handle, e-mail, text or secret."
        ),
    }


def _model_details(
    task: Any, scorer: Any, outputs: pd.DataFrame, model: Mapping[str, Any]
) -> dict[str, Any]:
    pipeline = getattr(scorer, "pipeline", None)
    estimator = (
        type(pipeline.steps[-1][1]).__name__
        if hasattr(pipeline, "steps")
        else type(scorer).__name__
    )
    calibrator = getattr(scorer, "calibrator", None)
    return {
        "name": model.get("name"),
        "version": model.get("version"),
        "alias": model.get("alias"),
        "task": getattr(task, "name", None),
        "question": getattr(task, "question", None),
        "model_type": model.get("model_type"),
        "estimator": estimator,
        "kind": getattr(scorer, "kind", getattr(task, "kind", None)),
        "output_columns": list(outputs.columns),
        "threshold": getattr(scorer, "threshold", None) if "decision" in outputs else None,
        "calibration": getattr(calibrator, "method", None),
        "created": model.get("created") or datetime.now(UTC).isoformat(timespec="seconds"),
        "owners": list(model.get("owners") or []),
        "references": list(model.get("references") or []),
        "run_id": model.get("run_id"),
        "model_uri": model.get("model_uri"),
    }


def build_model_card(
    task: Any,
    result: Any,
    manifest: Sequence[Mapping[str, str]],
    rows: pd.DataFrame,
    outputs: pd.DataFrame,
    *,
    data: Mapping[str, Any] | None = None,
    model: Mapping[str, Any] | None = None,
    groups: Sequence[str] | None = None,
    consent: pd.Series | Mapping | None = None,
    intervals: pd.DataFrame | None = None,
    min_slice_rows: int = MIN_SLICE_ROWS,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    top_factors: int = 10,
    secrets: Iterable[str] = (),
) -> ModelCard:
    """The card of a fitted model from plain values.

    Parameters
    ----------
    task
        The task (:class:`~socialcrm.tasks.protocol.Task`): name, question, target,
        metric, headline, ``deployed_metrics``, ``salt`` (never written: checked
        against); ``evaluation == "cv"`` marks a cross-validated task.
    result
        The fit's :class:`~socialcrm.tasks.base.TaskResult` (metrics, baseline,
        references, grade, model, tables: ``calibration`` or ``deciles``,
        ``shap_importance``, ``shap_groups``, ``cv_folds``, ``backtest``).
    manifest
        The feature manifest (name, group, description, dtype, role).
    rows, outputs
        ``task.evaluation_rows(...)`` and the model's outputs on them, row for row
        (the pyfunc's columns, e.g. ``result.model.scores(rows)``).
    data
        The ``data`` section: :func:`data_summary` (name, content hash, period,
        cutoffs, rows per split).
    model
        ``name``, ``version``, ``alias``, ``model_type``, ``run_id``, ``model_uri``,
        ``created`` (ISO time; default now), ``owners``, ``references``.
    groups
        The feature groups the run asked for.
    consent
        Consent per evaluation row (see :func:`consent_flags`): the consent slice and
        the privacy section's check of the consent gate.
    intervals
        Precomputed ``metric, value, lower, upper`` (default: the task's own
        intervals where its metrics carry ``<key>_lower`` / ``<key>_upper``, a
        bootstrap of ``deployed_metrics`` over customers for the others, or, for a
        cross-validated task, a t interval over its folds).
    min_slice_rows
        Smallest number of rows behind any number the card shows per slice or bin.
    n_boot, alpha, seed
        The bootstrap (see :func:`bootstrap_intervals` for its cost; with the slices
        the card costs about ``n_boot + 25`` calls of ``deployed_metrics``).
    top_factors
        Most influential features shown.
    secrets
        Values the card must not contain besides ``task.salt``.

    Raises
    ------
    ValueError
        If the card's text would contain an evaluation row's customer id or a secret.
    """
    defaults = task_defaults(task)
    flags = consent_flags(rows, consent)
    consent = None if flags is None else flags.reset_index(drop=True)
    rows, outputs = _positional(rows, outputs)
    full = dict(task.deployed_metrics(rows, outputs))
    cv = getattr(task, "evaluation", None) == "cv" or "cv_folds" in result.tables
    keys = _metric_keys(task, set(full) | set(result.metrics))
    perf, interval_method = _test_metrics(
        task, result, rows, outputs, full, keys, cv, intervals, n_boot, alpha, seed
    )
    slice_keys = [k for k in keys if k in full][:3]
    slices = slice_metrics(
        rows,
        outputs,
        task.deployed_metrics,
        default_slices(rows, consent),
        slice_keys,
        min_slice_rows,
    )
    table = result.tables.get("calibration")
    if table is None:
        table = result.tables.get("deciles")
    calibration = calibration_summary(table, alpha, min_slice_rows) if table is not None else None
    model_features = list(getattr(result.model, "features", None) or [])
    target = getattr(task, "target", None)
    positives = None
    if target in rows.columns and set(pd.unique(rows[target].dropna())) <= {0, 1}:
        positives = float(rows[target].astype(float).sum())

    card = ModelCard(
        model_details=plain(_model_details(task, result.model, outputs, dict(model or {}))),
        intended_use={
            "primary_uses": list(defaults.primary_uses),
            "primary_users": list(defaults.primary_users),
            "out_of_scope": list(defaults.out_of_scope),
        },
        data=plain({**(data or {}), "evaluation": _evaluation_description(rows, cv)}),
        features=plain(_features_section(model_features, manifest, groups)),
        quantitative_analysis={
            "evaluation": "cv" if cv else "time",
            "evaluation_text": (
                "stratified K-fold cross-validation (fold means)"
                if cv
                else "out of time, on the test cutoff or period"
            ),
            "interval_method": interval_method,
            "alpha": alpha,
            "n_boot": n_boot,
            "n_rows": len(rows),
            "performance_metrics": perf,
            "baseline": {"name": defaults.baseline, "metrics": plain(result.baseline_metrics)},
            "references": plain(result.references),
            "grade": {"value": result.grade, "rule": _format_rule(defaults.grade_rule, task)},
            "calibration": plain(calibration),
            "slices": {
                "min_rows": min_slice_rows,
                "keys": slice_keys,
                "note": "In-sample: the deployed model was fitted on these rows." if cv else "",
                "table": plain(slices.astype(object).where(slices.notna(), None)),
            },
            "backtest": _backtest(result, getattr(task, "metric", "")),
        },
        explanation=plain(_explanation_section(result, manifest, top_factors)),
        limitations=[],
        privacy=plain(_privacy_section(rows, consent, model_features, manifest, min_slice_rows)),
        formats={h.key: h.fmt for h in getattr(task, "headline", ())},
    )
    card.limitations = _limitations(
        task,
        result,
        defaults,
        card,
        slices,
        calibration,
        cv,
        len(rows),
        positives,
        alpha,
        min_slice_rows,
    )
    problems = privacy_problems(
        card.to_json() + card.to_markdown(),
        rows["customer_id"] if "customer_id" in rows.columns else (),
        [getattr(task, "salt", ""), *secrets],
    )
    if problems:
        raise ValueError(f"the model card would contain {' and '.join(problems)}")
    return card


def _format_rule(rule: str, task: Any) -> str:
    try:
        return rule.format(**vars(task))
    except (KeyError, ValueError, TypeError, IndexError):
        return rule


def _backtest(result: Any, metric: str) -> dict[str, Any] | None:
    table = result.tables.get("backtest")
    if table is None or metric not in table.columns:
        return None
    values = table[metric].astype(float)
    return plain(
        {
            "origins": len(values),
            "metric": metric,
            "mean": values.mean(),
            "sd": values.std(ddof=1) if len(values) > 1 else 0.0,
        }
    )
