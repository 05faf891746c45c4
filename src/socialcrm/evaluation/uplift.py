"""Uplift metrics for a binary treatment t, an outcome y and an uplift score u.

Written to reproduce scikit-uplift's (``sklift.metrics``) definitions without depending
on it. Note the argument order here is ``(y, t, u)``; sklift's is ``(y_true, uplift,
treatment)``.

Ordering and ties, as sklift: rows are sorted by u descending as
``np.argsort(u, kind="stable")[::-1]`` (so among equal scores the later row comes first)
and a curve has one point at the end of each run of equal scores, plus (0, 0). The curves
therefore do not depend on the order of tied rows; ``uplift_at_k`` cuts at a row count
and does.

With N_t(k), N_c(k) the treated and control rows among the first k, and Y_t(k), Y_c(k)
their summed outcomes:

- Qini curve: Y_t(k) - Y_c(k) N_t(k) / N_c(k) (Radcliffe 2007);
- uplift curve: (Y_t(k) / N_t(k) - Y_c(k) / N_c(k)) (N_t(k) + N_c(k));

a ratio with an empty denominator is taken as 0, as sklift does.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from socialcrm.evaluation.plots import ax_or_new

# each line its own dash, so that a line lying on another stays visible
_STYLES = ("-", "--", "-.", (0, (1, 1)), (0, (5, 1, 1, 1)))


def _check(y, t, u=None, binary_y: bool = False):
    """``y`` and ``u`` as floats and ``t`` as 0/1 ints of one length, both groups present."""
    y = np.asarray(y, dtype=float)
    t = np.asarray(t)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"y must be a non-empty 1-D array, got shape {y.shape}")
    if t.shape != y.shape:
        raise ValueError(f"t must have the shape of y {y.shape}, got {t.shape}")
    if not np.all(np.isin(t, (0, 1))):
        raise ValueError("t must be a binary treatment indicator (0 = control, 1 = treated)")
    t = t.astype(np.int64)
    if t.min() == t.max():
        raise ValueError("both treated (t = 1) and control (t = 0) rows are needed")
    if not np.all(np.isfinite(y)):
        raise ValueError("y must be finite")
    if binary_y and not np.all(np.isin(y, (0, 1))):
        raise ValueError("this metric needs a binary outcome y in {0, 1}")
    if u is None:
        return y, t
    u = np.asarray(u, dtype=float)
    if u.shape != y.shape:
        raise ValueError(f"u must have the shape of y {y.shape}, got {u.shape}")
    if not np.all(np.isfinite(u)):
        raise ValueError("u must be finite")
    return y, t, u


def _order(u: np.ndarray) -> np.ndarray:
    """Rows by score descending, ties in sklift's order (the later row first)."""
    return np.argsort(u, kind="stable")[::-1]


def _cumulative(y: np.ndarray, t: np.ndarray, u: np.ndarray):
    """N (rows), N_t, Y_t, N_c, Y_c at the end of each run of equal scores, best first."""
    order = _order(u)
    ys, ts, us = y[order], t[order], u[order]
    ends = np.r_[np.flatnonzero(np.diff(us)), len(us) - 1]
    n_all = ends + 1
    n_t = np.cumsum(ts)[ends].astype(float)
    y_t = np.cumsum(ys * ts)[ends]
    y_c = np.cumsum(ys * (1 - ts))[ends]
    return n_all, n_t, y_t, n_all - n_t, y_c


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b != 0)


def qini_curve(y, t, u) -> tuple[np.ndarray, np.ndarray]:
    """The Qini curve: incremental outcome among the k highest scores, Y_t(k) - Y_c(k)
    N_t(k) / N_c(k) (control outcomes scaled to the treated count).

    Returns
    -------
    tuple of numpy.ndarray
        ``x`` (rows targeted, from 0 to n) and the curve's values, one point per distinct
        score plus (0, 0).
    """
    y, t, u = _check(y, t, u)
    n_all, n_t, y_t, n_c, y_c = _cumulative(y, t, u)
    return np.r_[0, n_all], np.r_[0.0, y_t - y_c * _div(n_t, n_c)]


def uplift_curve(y, t, u) -> tuple[np.ndarray, np.ndarray]:
    """The uplift curve: (Y_t(k) / N_t(k) - Y_c(k) / N_c(k)) (N_t(k) + N_c(k)), the
    difference in mean outcome among the k highest scores times k.

    Returns
    -------
    tuple of numpy.ndarray
        ``x`` (rows targeted, from 0 to n) and the curve's values, one point per distinct
        score plus (0, 0).
    """
    y, t, u = _check(y, t, u)
    n_all, n_t, y_t, n_c, y_c = _cumulative(y, t, u)
    return np.r_[0, n_all], np.r_[0.0, (_div(y_t, n_t) - _div(y_c, n_c)) * n_all]


def perfect_qini_score(y, t) -> np.ndarray:
    """sklift's perfect Qini ranking as a score: treated responders first (1), then every
    non-responder (0), control responders last (-1), i.e. y t - y (1 - t)."""
    y, t = _check(y, t, binary_y=True)
    return y * t - y * (1 - t)


def perfect_uplift_score(y, t) -> np.ndarray:
    """sklift's perfect uplift-curve ranking as a score: treated responders (3), then control
    non-responders (2), then control responders and treated non-responders, the larger
    group first (control responders only when strictly more numerous). That is
    2 [y = t] + (y if CR > TN else t)."""
    y, t = _check(y, t, binary_y=True)
    control_responders = np.sum((y == 1) & (t == 0))
    treated_non_responders = np.sum((y == 0) & (t == 1))
    summand = y if control_responders > treated_non_responders else t
    return 2.0 * (y == t) + summand


def perfect_qini_curve(y, t, negative_effect: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The perfect (optimum) Qini curve of a binary outcome, as sklift defines it.

    Parameters
    ----------
    y, t
        Binary outcomes and treatment indicators.
    negative_effect
        True: the Qini curve of :func:`perfect_qini_score` (it rises, plateaus, then falls
        as control responders, whom treatment would lose, come last). False: a curve that
        rises with slope 1 to the total incremental outcome and stays there, i.e. the
        points (0, 0), (T, T), (n, T) with T = Y_t - Y_c N_t / N_c over all rows.

    Returns
    -------
    tuple of numpy.ndarray
        ``x`` and the curve's values.
    """
    y, t = _check(y, t, binary_y=True)
    if negative_effect:
        return qini_curve(y, t, perfect_qini_score(y, t))
    total = y[t == 1].sum() - (t == 1).sum() * y[t == 0].sum() / (t == 0).sum()
    return np.array([0.0, total, len(y)]), np.array([0.0, total, total])


def perfect_uplift_curve(y, t) -> tuple[np.ndarray, np.ndarray]:
    """The perfect (optimum) uplift curve of a binary outcome, as sklift defines it: the
    uplift curve of :func:`perfect_uplift_score`."""
    y, t = _check(y, t, binary_y=True)
    return uplift_curve(y, t, perfect_uplift_score(y, t))


def _normalised_area(model, perfect) -> float:
    """(area of model - area of random) / (area of perfect - area of random), the random
    curve being the straight line from (0, 0) to the perfect curve's end (as sklift)."""
    x_end, v_end = perfect[0][-1], perfect[1][-1]
    random = x_end * v_end / 2
    denom = np.trapezoid(perfect[1], perfect[0]) - random
    if denom == 0:
        return float("nan")
    return float((np.trapezoid(model[1], model[0]) - random) / denom)


def qini_auc_score(y, t, u, negative_effect: bool = True) -> float:
    """The normalised Qini coefficient of a binary outcome: (area under the model's Qini
    curve - random's) / (perfect's - random's), with sklift's perfect curve (see
    :func:`perfect_qini_curve`) and trapezoidal areas. 1 for the perfect ranking, about 0
    for a random one, negative for a harmful one; NaN when perfect equals random."""
    y, t, u = _check(y, t, u, binary_y=True)
    return _normalised_area(qini_curve(y, t, u), perfect_qini_curve(y, t, negative_effect))


def uplift_auc_score(y, t, u) -> float:
    """The normalised area under the uplift curve of a binary outcome, normalised as
    :func:`qini_auc_score` with sklift's perfect uplift curve."""
    y, t, u = _check(y, t, u, binary_y=True)
    return _normalised_area(uplift_curve(y, t, u), perfect_uplift_curve(y, t))


def uplift_at_k(y, t, u, k: float = 0.3) -> float:
    """mean(y | treated, top k) - mean(y | control, top k), the top k of all rows by score
    (sklift's ``strategy="overall"``).

    Parameters
    ----------
    y, t, u
        Outcomes (binary or continuous), treatment indicators and uplift scores.
    k
        A share in (0, 1) (the top ``int(k * n)`` rows, truncated as sklift) or a row
        count in [1, n).

    Returns
    -------
    float
        The uplift among the top k; NaN when they hold no treated or no control row.
    """
    y, t, u = _check(y, t, u)
    n = len(y)
    if isinstance(k, bool) or not isinstance(k, int | float | np.integer | np.floating):
        raise ValueError(f"k must be a share in (0, 1) or a row count, got {k!r}")
    if isinstance(k, int | np.integer):
        if not 0 < k < n:
            raise ValueError(f"a row count k must lie in [1, {n - 1}], got {k}")
        size = int(k)
    else:
        if not 0 < k < 1:
            raise ValueError(f"a share k must lie in (0, 1), got {k}")
        size = int(n * k)
    top = _order(u)[:size]
    treated, control = top[t[top] == 1], top[t[top] == 0]
    if len(treated) == 0 or len(control) == 0:
        return float("nan")
    return float(y[treated].mean() - y[control].mean())


def _plot(curves: dict[str, tuple], ax, ylabel: str, title: str) -> plt.Axes:
    ax = ax_or_new(ax)
    for i, (name, (x, v)) in enumerate(curves.items()):
        ax.plot(x, v, label=name, linestyle=_STYLES[i % len(_STYLES)])
    if curves:
        x, v = next(iter(curves.values()))
        ax.plot([0, x[-1]], [0, v[-1]], linestyle=":", color="gray", label="random")
    ax.set_xlabel("customers targeted (highest uplift score first)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_qini(curves: dict[str, tuple], ax=None) -> plt.Axes:
    """Qini curves ``{name: (x, value)}`` (from :func:`qini_curve` or
    :func:`perfect_qini_curve`) on one Axes, with the random line to the first curve's end."""
    return _plot(curves, ax, "incremental outcome (Qini)", "Qini curve")


def plot_uplift_curve(curves: dict[str, tuple], ax=None) -> plt.Axes:
    """Uplift curves ``{name: (x, value)}`` (from :func:`uplift_curve` or
    :func:`perfect_uplift_curve`) on one Axes, with the random line to the first curve's
    end."""
    return _plot(curves, ax, "uplift x customers targeted", "Uplift curve")
