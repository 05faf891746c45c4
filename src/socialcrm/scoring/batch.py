"""Batch scoring as pure functions: a feature frame and a loaded model in, the score
table and its distribution out. Reading, writing and MLflow are in
:mod:`socialcrm.scoring.run`.

The score table has one row per scored customer:

- the key: ``customer_hash`` (the salted hash the reason tables of training runs use)
  or, with ``score.key: id``, the raw ``customer_id``;
- what the model returns: ``probability`` (churn) or ``prediction`` (CLV); for
  next-best-offer ``action`` (each row's best eligible action on its own),
  ``expected_<reward>_<action>`` per action and ``propensity``;
- ``decision``: the task's decision over the whole batch
  (:meth:`~socialcrm.tasks.protocol.Task.decide`: contact or not for churn, the
  offer under the campaign's budget, capacity and channel limits for
  next-best-offer; absent for CLV);
- the reason codes ``raising_1..k`` and ``lowering_1..k`` (``score.top_reasons``);
- ``model``, ``model_version``, ``as_of`` and ``features_sha256`` (the content hash of
  the scored feature rows): where every score came from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from socialcrm.data.privacy import hash_identifiers

#: ``score.key`` -> the key column of the score table.
KEY_COLUMNS = {"hash": "customer_hash", "id": "customer_id"}
#: The prefixes of the reason-code columns a deployed model returns.
REASON_PREFIXES = ("raising_", "lowering_")
#: Quantiles of the score the distribution report shows.
QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
#: Constant columns closing every row: provenance of the scores.
META_COLUMNS = ("model", "model_version", "as_of", "features_sha256")
#: The hash kind customer ids are hashed as (the same as the reason tables of training runs).
CUSTOMER_KIND = "handle"


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: what loads it and what it is.

    Attributes
    ----------
    uri
        The URI that loads exactly this model (``models:/<name>/<version>`` for a
        registered one, so that an alias moving meanwhile changes nothing).
    requested
        The URI as asked for (``models:/socialcrm-churn@champion``).
    name
        The registered name (or the requested URI for an unregistered model).
    version
        The registered version (or ``run <run_id>``).
    """

    uri: str
    requested: str
    name: str
    version: str

    @property
    def label(self) -> str:
        return f"{self.requested} ({self.name} v{self.version})"


@dataclass
class Distribution:
    """What the scores of a batch look like.

    Attributes
    ----------
    column
        The score column summarised (None: the model has none, e.g. next-best-offer
        without a decision).
    quantiles
        ``statistic, value``: the quantiles of :data:`QUANTILES` and the mean.
    decisions
        ``decision, rows, share`` (empty when the task makes no decision).
    histogram
        ``bin_start, bin_end, rows, share`` of the score (empty without a score).
    """

    rows: int
    column: str | None
    quantiles: pd.DataFrame
    decisions: pd.DataFrame
    histogram: pd.DataFrame


# -- dates --------------------------------------------------------------------------


def month_start_after(last_event: pd.Timestamp | str) -> pd.Timestamp:
    """The first month start after the day of ``last_event``: the default scoring date.

    Features use events strictly before the cutoff, so every event of that last day
    counts; data ending on 2026-06-30 are scored as of 2026-07-01, data ending on
    2026-06-15 as of 2026-07-01 too (the days after the last event count as
    inactivity).

    >>> str(month_start_after("2026-06-30 23:10").date())
    '2026-07-01'
    >>> str(month_start_after("2026-07-01 08:00").date())
    '2026-08-01'
    """
    day = pd.Timestamp(last_event).normalize() + pd.Timedelta(days=1)
    return day if day.day == 1 else day + pd.offsets.MonthBegin(1)


def parse_as_of(value: object) -> pd.Timestamp:
    """A configured date as a midnight timestamp.

    Raises
    ------
    ValueError
        If ``value`` is not a date.
    """
    try:
        ts = pd.Timestamp(str(value))
    except (ValueError, TypeError) as err:
        raise ValueError(f"score.as_of={value!r} is not a date (YYYY-MM-DD)") from err
    if pd.isna(ts):
        raise ValueError(f"score.as_of={value!r} is not a date (YYYY-MM-DD)")
    return ts.tz_localize(None).normalize() if ts.tzinfo else ts.normalize()


# -- scoring ------------------------------------------------------------------------


def chunk_slices(n_rows: int, chunk_rows: int) -> list[slice]:
    """Consecutive slices of at most ``chunk_rows`` rows covering ``n_rows`` (none for 0).

    >>> chunk_slices(5, 2)
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    if chunk_rows < 1:
        raise ValueError(f"score.chunk_rows must be at least 1, not {chunk_rows}")
    return [slice(i, min(i + chunk_rows, n_rows)) for i in range(0, n_rows, chunk_rows)]


def model_inputs(frame: pd.DataFrame, input_names: Sequence[str] | None) -> pd.DataFrame:
    """The columns of ``frame`` the model reads (all of them when it names none).

    Keys and labels stay out of what the model sees: MLflow warns about every
    column its signature does not name, and identifiers are no model input.
    """
    if not input_names:
        return frame
    return frame[[c for c in input_names if c in frame.columns]]


def score_chunks(
    model: Any, rows: pd.DataFrame, chunk_rows: int, top_reasons: int
) -> Iterator[tuple[slice, pd.DataFrame]]:
    """The model's outputs chunk by chunk: ``(slice of rows, outputs)``.

    Only one chunk of reason codes exists at a time; the outputs carry the index of
    ``rows`` (a pyfunc returns a fresh range index).

    Parameters
    ----------
    model
        A loaded MLflow pyfunc (``predict(frame, params={"top_reasons": k})``).
    rows
        The model's input rows (:func:`model_inputs`).
    chunk_rows
        Rows per call.
    top_reasons
        Reasons each way (0: scores only).
    """
    # zero rows: one empty call, so that the outputs still have the model's columns
    for part in chunk_slices(len(rows), chunk_rows) or [slice(0, 0)]:
        chunk = rows.iloc[part]
        out = model.predict(chunk, params={"top_reasons": int(top_reasons)})
        out.index = chunk.index
        yield part, out


def predict_outputs(
    model: Any, rows: pd.DataFrame, input_names: Sequence[str] | None, chunk_rows: int = 50_000
) -> pd.DataFrame:
    """A loaded pyfunc's outputs without reasons for ``rows``, row for row (a fresh
    range index): what the promotion gate and a task's context model score."""
    inputs = model_inputs(rows, input_names)
    parts = [out for _, out in score_chunks(model, inputs, chunk_rows, top_reasons=0)]
    return pd.concat(parts).reset_index(drop=True)


def reason_columns(columns: Sequence[str]) -> list[str]:
    """The reason-code columns among ``columns`` (``raising_*``, ``lowering_*``)."""
    return [c for c in columns if str(c).startswith(REASON_PREFIXES)]


def split_reasons(outputs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(scores, reasons)``: the outputs without and with only the reason columns."""
    reasons = reason_columns(list(outputs.columns))
    return outputs.drop(columns=reasons), outputs[reasons]


# -- the table ----------------------------------------------------------------------


def customer_keys(ids: pd.Series, key: str, salt: str | None) -> pd.Series:
    """The key column: salted hashes of the ids (``key="hash"``) or the ids (``"id"``).

    Hashed as the reason tables of training runs hash them
    (:func:`~socialcrm.data.privacy.hash_identifiers`, kind ``handle``), so the two
    join.

    Raises
    ------
    ValueError
        For another ``key``, or ``key="hash"`` without a salt.
    """
    if key not in KEY_COLUMNS:
        raise ValueError(f"score.key must be one of {sorted(KEY_COLUMNS)}, not {key!r}")
    name = KEY_COLUMNS[key]
    if key == "id":
        return pd.Series(ids.astype(str).to_numpy(), index=ids.index, name=name)
    if not salt:
        raise ValueError("score.key=hash needs data.salt (or $SOCIALCRM_SALT)")
    hashed = hash_identifiers(ids.astype(str), CUSTOMER_KIND, salt)
    return pd.Series(hashed, index=ids.index, name=name, dtype=object)


def frame_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's column names and values (row order counts; the index not)."""
    h = hashlib.sha256(json.dumps([str(c) for c in frame.columns]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def head_table(keys: pd.Series, scores: pd.DataFrame, decision: pd.Series | None) -> pd.DataFrame:
    """Key, the model's outputs (without reasons) and the batch's ``decision``.

    The decision replaces a ``decision`` column the model returns (a churn model's
    threshold rule): the task decides over the batch.
    """
    out = scores.drop(columns=[c for c in ("decision",) if c in scores.columns]).copy()
    out.insert(0, str(keys.name), keys.to_numpy())
    if decision is not None:
        out["decision"] = decision.reindex(scores.index).to_numpy()
    return out


def meta_columns(ref: ModelRef, as_of: pd.Timestamp, features_sha256: str) -> dict[str, Any]:
    """The provenance columns of :data:`META_COLUMNS` (constant over a batch)."""
    return {
        "model": ref.name,
        "model_version": str(ref.version),
        "as_of": pd.Timestamp(as_of).date(),
        "features_sha256": features_sha256,
    }


def assemble(head: pd.DataFrame, reasons: pd.DataFrame, meta: Mapping[str, Any]) -> pd.DataFrame:
    """Rows of the score table: ``head`` (:func:`head_table`), the reason codes, the
    provenance columns; row for row (``reasons`` aligned by position)."""
    out = head.reset_index(drop=True)
    if len(reasons.columns):
        if len(reasons) != len(out):
            raise ValueError(f"{len(reasons)} rows of reasons for {len(out)} rows of scores")
        out = pd.concat([out, reasons.reset_index(drop=True)], axis=1)
    return out.assign(**dict(meta))


# -- distribution -------------------------------------------------------------------


def score_column(head: pd.DataFrame) -> str | None:
    """The column that is the score: ``probability``, ``prediction`` or, for
    next-best-offer, ``expected_value`` (:func:`decided_value`); None if none."""
    for name in ("probability", "prediction", "expected_value"):
        if name in head.columns:
            return name
    return None


def decided_value(head: pd.DataFrame) -> pd.Series | None:
    """For next-best-offer: the expected reward of each row's decided action (the
    ``expected_<reward>_<action>`` column of its ``decision``); None otherwise."""
    expected = [c for c in head.columns if c.startswith("expected_")]
    if not expected or "decision" not in head.columns:
        return None
    # expected_<reward>_<action>: the reward is one word, an action may hold "_"
    prefix = "expected_" + expected[0].removeprefix("expected_").split("_", 1)[0] + "_"
    columns = {c.removeprefix(prefix): i for i, c in enumerate(expected)}
    idx = head["decision"].astype(str).map(columns)
    values = head[expected].to_numpy(float)
    out = np.full(len(head), np.nan)
    ok = idx.notna().to_numpy()
    out[ok] = values[np.flatnonzero(ok), idx[ok].astype(int).to_numpy()]
    return pd.Series(out, index=head.index, name="expected_value")


def distribution(head: pd.DataFrame, bins: int = 20) -> Distribution:
    """Quantiles and histogram of the score, and the decision counts.

    Parameters
    ----------
    head
        The score table's head (:func:`head_table`): no reasons needed.
    bins
        Histogram bins (equal width from the smallest to the largest score; a
        probability uses ``[0, 1]``).
    """
    frame = head
    value = decided_value(head)
    if value is not None:
        frame = head.assign(expected_value=value)
    column = score_column(frame)
    quantiles = pd.DataFrame(columns=["statistic", "value"])
    histogram = pd.DataFrame(columns=["bin_start", "bin_end", "rows", "share"])
    if column is not None and len(frame):
        x = frame[column].to_numpy(float)
        x = x[~np.isnan(x)]
        if x.size:
            qs = np.quantile(x, QUANTILES)
            names = [
                "min" if q == 0 else "max" if q == 1 else f"p{round(q * 100):02d}"
                for q in QUANTILES
            ]
            quantiles = pd.DataFrame(
                {"statistic": [*names, "mean"], "value": [*qs.tolist(), float(x.mean())]}
            )
            lo, hi = (0.0, 1.0) if column == "probability" else (float(x.min()), float(x.max()))
            counts, edges = np.histogram(x, bins=bins, range=(lo, hi if hi > lo else lo + 1))
            histogram = pd.DataFrame(
                {
                    "bin_start": edges[:-1],
                    "bin_end": edges[1:],
                    "rows": counts,
                    "share": counts / x.size,
                }
            )
    decisions = pd.DataFrame(columns=["decision", "rows", "share"])
    if "decision" in head.columns and len(head):
        counts = head["decision"].astype(str).value_counts().sort_index()
        decisions = pd.DataFrame(
            {
                "decision": counts.index.astype(str),
                "rows": counts.to_numpy(),
                "share": counts.to_numpy() / len(head),
            }
        )
    return Distribution(len(head), column, quantiles, decisions, histogram)


def summary_record(
    dist: Distribution,
    ref: ModelRef,
    task: str,
    as_of: pd.Timestamp,
    key: str,
    top_reasons: int,
    features_sha256: str,
) -> dict[str, Any]:
    """The batch's aggregates as JSON-able values (what ``summary.json`` holds and DVC
    shows): no customer rows, no timings (the same batch gives the same record)."""
    return {
        "task": task,
        "as_of": f"{pd.Timestamp(as_of):%Y-%m-%d}",
        "model": ref.name,
        "model_version": str(ref.version),
        "model_uri": ref.requested,
        "rows": int(dist.rows),
        "key": KEY_COLUMNS[key],
        "top_reasons": int(top_reasons),
        "features_sha256": features_sha256,
        "score": dist.column,
        "quantiles": {r.statistic: float(r.value) for r in dist.quantiles.itertuples()},
        "decisions": {
            r.decision: {"rows": int(r.rows), "share": float(r.share)}
            for r in dist.decisions.itertuples()
        },
    }


def report_markdown(record: Mapping[str, Any], dist: Distribution, image: str | None) -> str:
    """The scored-distribution report (Markdown): what was scored with what, the score's
    quantiles, the decisions and the histogram image (``image``: its file name)."""
    from socialcrm.reports.markdown import to_markdown

    lines = [
        f"# Scores: {record['task']} as of {record['as_of']}",
        "",
        f"{record['rows']:,} customers scored with {record['model']} "
        f"v{record['model_version']} ({record['model_uri']}); key `{record['key']}`, "
        f"{record['top_reasons']} reason codes each way.",
        "",
        f"Features: SHA-256 `{record['features_sha256'][:16]}...` of the scored rows.",
        "",
    ]
    if len(dist.quantiles):
        lines += [f"## Distribution of `{dist.column}`", "", to_markdown(dist.quantiles, "{:.4g}")]
        lines.append("")
    if len(dist.decisions):
        lines += ["## Decisions", "", to_markdown(dist.decisions, "{:.1%}"), ""]
    if image:
        lines += [f"![distribution]({image})", ""]
    return "\n".join(lines)


def draw_distribution(dist: Distribution, ax=None):
    """The histogram of the score, or (without a numeric score) the decision mix as bars.

    Returns the Axes (None when there is nothing to draw); the caller saves it.
    """
    import matplotlib.pyplot as plt

    if len(dist.histogram) == 0 and len(dist.decisions) == 0:
        return None
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    if len(dist.histogram):
        h = dist.histogram
        ax.bar(h["bin_start"], h["share"], width=h["bin_end"] - h["bin_start"], align="edge")
        ax.set_xlabel(dist.column)
        ax.set_ylabel("share of customers")
        ax.set_title(f"Distribution of {dist.column} ({dist.rows:,} customers)")
    else:
        d = dist.decisions.iloc[::-1]
        ax.barh(d["decision"], d["share"])
        ax.set_xlabel("share of customers")
        ax.set_title(f"Decisions ({dist.rows:,} customers)")
    return ax
