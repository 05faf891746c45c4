"""Cutoff dates and the split by time.

A cutoff is the moment a snapshot is taken: features see events strictly before
it, labels the ``horizon_days`` after it. Rolling cutoffs (month starts by
default) give a training set of many snapshots. The split is by cutoff, never
random across time, and it is *purged*: a training snapshot's label window
ends before the first validation cutoff, and a validation snapshot's before the
first test cutoff, so no label looks into the period a later split is judged on.
"""

from __future__ import annotations

import pandas as pd

SPLITS = ("train", "valid", "test", "gap")


def rolling_cutoffs(
    data_start: pd.Timestamp,
    data_end: pd.Timestamp,
    horizon_days: int,
    every_months: int = 1,
    min_history_days: int = 365,
    first: str | pd.Timestamp | None = None,
    last: str | pd.Timestamp | None = None,
) -> list[pd.Timestamp]:
    """Month-start cutoffs with enough history before and a complete horizon after.

    Parameters
    ----------
    data_start, data_end
        First and last event time of the data set (``data_end`` inclusive).
    horizon_days
        Label window after each cutoff; the last cutoff satisfies
        ``cutoff + horizon <= data_end``.
    every_months
        Spacing of the cutoffs.
    min_history_days
        History needed before the first cutoff.
    first, last
        Explicit bounds (overriding the derived ones).

    Returns
    -------
    list of pandas.Timestamp
        Sorted cutoffs, possibly empty when the data are too short.
    """
    if first:
        lo = pd.Timestamp(first)
    else:
        lo = data_start + pd.Timedelta(days=min_history_days)
        if not (lo.day == 1 and lo == lo.normalize()):
            lo = lo.normalize() + pd.offsets.MonthBegin(1)  # round up to a month start
    hi = pd.Timestamp(last) if last else data_end - pd.Timedelta(days=horizon_days)
    out = []
    cur = lo
    while cur <= hi:
        out.append(cur)
        cur = cur + pd.DateOffset(months=every_months)
    return out


def explicit_cutoffs(dates: list[str]) -> list[pd.Timestamp]:
    """Parse configured cutoff dates (sorted, unique)."""
    return sorted({pd.Timestamp(d) for d in dates})


def assign_split(
    cutoffs: list[pd.Timestamp], horizon_days: int, test_cutoffs: int = 1, valid_cutoffs: int = 1
) -> dict[pd.Timestamp, str]:
    """Map each cutoff to ``train``, ``valid``, ``test`` or ``gap`` (purged).

    The latest ``test_cutoffs`` cutoffs are test; the latest ``valid_cutoffs``
    cutoffs whose horizon ends by the first test cutoff are validation; cutoffs
    whose horizon ends by the first validation cutoff are training; the rest
    fall in the purge gap and are kept out of every split.
    """
    horizon = pd.Timedelta(days=horizon_days)
    cs = sorted(cutoffs)
    split = dict.fromkeys(cs, "gap")
    test = cs[-test_cutoffs:] if test_cutoffs else []
    for c in test:
        split[c] = "test"
    boundary = min(test) if test else None
    before = [c for c in cs if c not in test and (boundary is None or c + horizon <= boundary)]
    valid = before[-valid_cutoffs:] if valid_cutoffs else []
    for c in valid:
        split[c] = "valid"
    boundary = min(valid) if valid else boundary
    for c in cs:
        if split[c] == "gap" and (boundary is None or c + horizon <= boundary):
            split[c] = "train"
    return split
