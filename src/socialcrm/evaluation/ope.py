"""Off-policy evaluation (OPE) of a next-best-offer policy from logged bandit feedback.

One estimator class per method with a shared interface, in the style of Open Bandit
Pipeline (OBP) but without depending on it: IPS, SNIPS, DM, DR, SNDR, Switch-DR and DRos
(see ``../shared/OPE.md`` for the formulas). Every estimator takes plain NumPy arrays:

- ``reward`` (n,): the logged reward of each round;
- ``action`` (n,): the logged action, an integer index into K actions;
- ``pscore`` (n,): the logging policy's probability of the logged action, in (0, 1];
- ``action_dist`` (n, K): the evaluated policy's probabilities pi_e(a | x_i) (rows sum to 1;
  a deterministic policy is one-hot);
- ``estimated_rewards`` (n, K): a reward model's q(x_i, a), needed by the DM family only.

and offers ``round_rewards`` (per-round terms whose mean is the estimate),
``estimate_policy_value`` and ``estimate_interval`` (percentile bootstrap of rounds).
Around them: importance weights and their effective sample size, a paired bootstrap for
the difference of two policies, model-agnostic cross-fitting of the reward model, the
relative estimation error, and one table of every estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold

# rows of ``action_dist`` must sum to 1 within this
ROW_SUM_TOL = 1e-6
# resampled rounds held at once by the bootstrap (an int64 index matrix of this many
# entries is 32 MB), so memory stays bounded whatever n and n_bootstrap are
_CHUNK_ELEMENTS = 2**22

RandomState = int | np.random.Generator | None


def _check_policy(action, pscore, action_dist) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``action`` as ints, ``pscore`` and ``action_dist`` as floats, each checked."""
    action_dist = np.asarray(action_dist, dtype=float)
    if action_dist.ndim != 2 or action_dist.shape[0] == 0 or action_dist.shape[1] == 0:
        raise ValueError(
            f"action_dist must be a non-empty (n, K) array, got shape {action_dist.shape}"
        )
    n, k = action_dist.shape
    action = np.asarray(action)
    if action.shape != (n,):
        raise ValueError(f"action must have shape ({n},) to match action_dist, got {action.shape}")
    integral = action.dtype.kind in "iu" or (
        action.dtype.kind == "f" and np.all(np.isfinite(action) & (action == np.round(action)))
    )
    if not integral:
        raise ValueError("action must hold integer action indices")
    action = action.astype(np.int64)
    if action.min() < 0 or action.max() >= k:
        raise ValueError(
            f"action indices must lie in [0, {k - 1}] (K = {k} columns of action_dist), "
            f"got values in [{action.min()}, {action.max()}]"
        )
    pscore = np.asarray(pscore, dtype=float)
    if pscore.shape != (n,):
        raise ValueError(f"pscore must have shape ({n},) to match action_dist, got {pscore.shape}")
    if not np.all((pscore > 0) & (pscore <= 1)):
        raise ValueError("pscore must lie in (0, 1]: the logging propensity of the logged action")
    if not np.all(np.isfinite(action_dist)) or action_dist.min() < 0:
        raise ValueError("action_dist must hold finite, non-negative probabilities")
    worst = float(np.abs(action_dist.sum(axis=1) - 1.0).max())
    if worst > ROW_SUM_TOL:
        raise ValueError(
            f"every row of action_dist must sum to 1 (within {ROW_SUM_TOL:g}); "
            f"the worst is off by {worst:.3g}"
        )
    return action, pscore, action_dist


def check_bandit_feedback(
    reward, action, pscore, action_dist, estimated_rewards=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The logged feedback as arrays of checked shapes and ranges.

    Parameters
    ----------
    reward, action, pscore, action_dist, estimated_rewards
        See the module docstring; ``estimated_rewards`` may be None.

    Returns
    -------
    tuple
        ``reward``, ``pscore``, ``action_dist`` and ``estimated_rewards`` as floats,
        ``action`` as int64, in the order of the parameters.

    Raises
    ------
    ValueError
        On a shape mismatch, an action index outside [0, K), a propensity outside (0, 1],
        a negative probability, a row of ``action_dist`` that does not sum to 1, or a
        non-finite reward or reward estimate.
    """
    action, pscore, action_dist = _check_policy(action, pscore, action_dist)
    n = len(action)
    reward = np.asarray(reward, dtype=float)
    if reward.shape != (n,):
        raise ValueError(f"reward must have shape ({n},) to match action_dist, got {reward.shape}")
    if not np.all(np.isfinite(reward)):
        raise ValueError("reward must be finite")
    if estimated_rewards is not None:
        estimated_rewards = np.asarray(estimated_rewards, dtype=float)
        if estimated_rewards.shape != action_dist.shape:
            raise ValueError(
                f"estimated_rewards must have the shape of action_dist {action_dist.shape}, "
                f"got {estimated_rewards.shape}"
            )
        if not np.all(np.isfinite(estimated_rewards)):
            raise ValueError("estimated_rewards must be finite")
    return reward, action, pscore, action_dist, estimated_rewards


def importance_weights(action, pscore, action_dist, clip: float | None = None) -> np.ndarray:
    """w_i = pi_e(a_i | x_i) / pi_0(a_i | x_i), optionally clipped to ``min(w_i, clip)``.

    Parameters
    ----------
    action, pscore, action_dist
        Logged actions, their logging propensities and the evaluated policy's (n, K)
        probabilities.
    clip
        The largest weight kept (M), or None for no clipping.

    Returns
    -------
    numpy.ndarray
        The (n,) weights.
    """
    _check_clip(clip)
    action, pscore, action_dist = _check_policy(action, pscore, action_dist)
    w = action_dist[np.arange(len(action)), action] / pscore
    return w if clip is None else np.minimum(w, clip)


def effective_sample_size(weights) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2 of importance weights.

    n for equal weights, about 1 when one weight dominates; 0 when every weight is 0 (the
    log holds no round the evaluated policy would play).
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"weights must be a non-empty 1-D array, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or w.min() < 0:
        raise ValueError("weights must be finite and non-negative")
    sq = float(np.sum(w**2))
    return float(np.sum(w) ** 2 / sq) if sq > 0 else 0.0


def relative_estimation_error(estimate: float, true_value: float) -> float:
    """|estimate - V| / |V|, the accuracy summary OBP reports per estimator."""
    if true_value == 0:
        raise ValueError("the relative error is undefined for a true value of 0")
    return float(abs(estimate - true_value) / abs(true_value))


def _check_clip(clip: float | None) -> None:
    if clip is not None and not clip > 0:
        raise ValueError(f"clip must be a positive weight cap (or None), got {clip}")


def _check_interval_args(alpha: float, n_bootstrap: int) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if int(n_bootstrap) != n_bootstrap or n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be a positive integer, got {n_bootstrap}")


def _resample_means(columns: np.ndarray, n_bootstrap: int, random_state: RandomState) -> np.ndarray:
    """Means of each of the m columns of ``columns`` (n, m) over ``n_bootstrap`` resamples of
    its rows with replacement, one index matrix per chunk of resamples: (n_bootstrap, m).

    Every column is averaged over the same resampled rows, which keeps the rounds paired
    (a ratio of two means is then recomputed within each resample)."""
    rng = np.random.default_rng(random_state)
    n, m = columns.shape
    cols = np.ascontiguousarray(columns.T)
    out = np.empty((n_bootstrap, m))
    chunk = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n_bootstrap, chunk):
        stop = min(start + chunk, n_bootstrap)
        idx = rng.integers(0, n, size=(stop - start, n))
        for j in range(m):
            out[start:stop, j] = cols[j][idx].mean(axis=1)
    return out


def _interval(point: float, samples: np.ndarray, alpha: float) -> dict[str, float]:
    lower, upper = np.quantile(samples, [alpha / 2, 1 - alpha / 2])
    return {"mean": float(point), "lower": float(lower), "upper": float(upper)}


def _ratio(num, den):
    """num / den, taken as 0 where den is 0: every weight is then 0, so num is 0 too."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def bootstrap_interval(
    terms,
    alpha: float = 0.05,
    n_bootstrap: int = 2000,
    random_state: RandomState = 0,
) -> dict[str, float]:
    """Percentile bootstrap interval of the mean of per-round terms (rounds resampled with
    replacement).

    Parameters
    ----------
    terms
        Per-round terms, e.g. an estimator's ``round_rewards`` or the logged rewards
        themselves (the logging policy's on-policy value).
    alpha
        1 - the interval's coverage.
    n_bootstrap
        Resamples.
    random_state
        Seed or Generator of the resampling.

    Returns
    -------
    dict
        ``mean`` (of ``terms``), ``lower`` and ``upper``.
    """
    _check_interval_args(alpha, n_bootstrap)
    x = np.asarray(terms, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"terms must be a non-empty 1-D array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("terms must be finite")
    samples = _resample_means(x[:, None], n_bootstrap, random_state)[:, 0]
    return _interval(x.mean(), samples, alpha)


def paired_difference_interval(
    terms_a,
    terms_b,
    alpha: float = 0.05,
    n_bootstrap: int = 2000,
    random_state: RandomState = 0,
) -> dict[str, float]:
    """Percentile bootstrap of the difference of two policies' values, resampling rounds
    (paired: both policies' terms of a round move together).

    Parameters
    ----------
    terms_a, terms_b
        Per-round terms of the two policies on the same logged rounds (``round_rewards``
        of one estimator for each policy). For self-normalised estimators those terms
        hold the full-sample normalisation fixed; that is fine for a difference when the
        two normalisers are near 1 but ignores their own sampling noise.
    alpha, n_bootstrap, random_state
        As :func:`bootstrap_interval`.

    Returns
    -------
    dict
        ``mean`` (the value of a minus that of b on the full sample), ``lower`` and
        ``upper``.
    """
    a = np.asarray(terms_a, dtype=float)
    b = np.asarray(terms_b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError(
            f"terms must be non-empty 1-D arrays of one shape, got {a.shape}, {b.shape}"
        )
    return bootstrap_interval(a - b, alpha, n_bootstrap, random_state)


@dataclass(frozen=True)
class BaseOffPolicyEstimator:
    """The shared interface; subclasses define ``name`` and ``_parts``.

    Every estimate has the form mean(base) + mean(corr) / mean(norm), with norm = 1 for the
    estimators that do not self-normalise; the bootstrap recomputes all three means on
    each resample.
    """

    name: ClassVar[str] = ""
    needs_estimated_rewards: ClassVar[bool] = False
    uses_weights: ClassVar[bool] = True

    def _parts(
        self,
        reward: np.ndarray,
        action: np.ndarray,
        pscore: np.ndarray,
        action_dist: np.ndarray,
        estimated_rewards: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-round terms, and the weights to self-normalise the terms by (or None)."""
        raise NotImplementedError

    def _checked_parts(self, reward, action, pscore, action_dist, estimated_rewards):
        reward, action, pscore, action_dist, estimated_rewards = check_bandit_feedback(
            reward, action, pscore, action_dist, estimated_rewards
        )
        if self.needs_estimated_rewards and estimated_rewards is None:
            raise ValueError(
                f"{self.name} needs estimated_rewards, the (n, K) reward model q(x, a)"
            )
        return self._parts(reward, action, pscore, action_dist, estimated_rewards)

    def weights(self, action, pscore, action_dist) -> np.ndarray:
        """The (clipped) importance weights this estimator uses."""
        return importance_weights(action, pscore, action_dist, getattr(self, "clip", None))

    def round_rewards(
        self, reward, action, pscore, action_dist, estimated_rewards=None
    ) -> np.ndarray:
        """Per-round terms whose mean is the estimate (for the self-normalised estimators
        the weighted terms are already divided by the full-sample mean weight)."""
        parts = self._checked_parts(reward, action, pscore, action_dist, estimated_rewards)
        if len(parts) == 1:
            return parts[0]
        base, corr, norm = parts
        return base + _ratio(corr, norm.mean())

    def estimate_policy_value(
        self, reward, action, pscore, action_dist, estimated_rewards=None
    ) -> float:
        """The estimated value V(pi_e) of the evaluated policy."""
        return float(
            self.round_rewards(reward, action, pscore, action_dist, estimated_rewards).mean()
        )

    def estimate_interval(
        self,
        reward,
        action,
        pscore,
        action_dist,
        estimated_rewards=None,
        *,
        alpha: float = 0.05,
        n_bootstrap: int = 2000,
        random_state: RandomState = 0,
    ) -> dict[str, float]:
        """Percentile bootstrap interval of the estimate, resampling logged rounds.

        Self-normalised estimators recompute their mean weight within each resample.

        Returns
        -------
        dict
            ``mean`` (the full-sample estimate, where OBP reports the mean of the bootstrap
            estimates instead), ``lower`` and ``upper`` (the alpha/2 and 1 - alpha/2
            quantiles of the resampled estimates).
        """
        _check_interval_args(alpha, n_bootstrap)
        parts = self._checked_parts(reward, action, pscore, action_dist, estimated_rewards)
        if len(parts) == 1:
            terms = parts[0]
            samples = _resample_means(terms[:, None], n_bootstrap, random_state)[:, 0]
            return _interval(terms.mean(), samples, alpha)
        base, corr, norm = parts
        point = base.mean() + _ratio(corr.mean(), norm.mean())
        m = _resample_means(np.column_stack(parts), n_bootstrap, random_state)
        return _interval(point, m[:, 0] + _ratio(m[:, 1], m[:, 2]), alpha)


def _logged(values: np.ndarray, action: np.ndarray) -> np.ndarray:
    """Each row's entry at the logged action."""
    return values[np.arange(len(action)), action]


def _dm_terms(action_dist: np.ndarray, estimated_rewards: np.ndarray) -> np.ndarray:
    return np.einsum("ik,ik->i", action_dist, estimated_rewards)


@dataclass(frozen=True)
class InverseProbabilityWeighting(BaseOffPolicyEstimator):
    """IPS: mean of w_i r_i. Unbiased with true propensities; variance grows with the weights.

    Parameters
    ----------
    clip
        Weight cap M (``min(w, M)``), or None.
    """

    clip: float | None = None
    name: ClassVar[str] = "ipw"

    def __post_init__(self):
        _check_clip(self.clip)

    def _parts(self, reward, action, pscore, action_dist, estimated_rewards):
        return (self.weights(action, pscore, action_dist) * reward,)


@dataclass(frozen=True)
class SelfNormalizedInverseProbabilityWeighting(BaseOffPolicyEstimator):
    """SNIPS: sum w_i r_i / sum w_i. Slightly biased, lower variance; IPS when mean(w) = 1.

    Parameters
    ----------
    clip
        Weight cap M (``min(w, M)``), or None.
    """

    clip: float | None = None
    name: ClassVar[str] = "snipw"

    def __post_init__(self):
        _check_clip(self.clip)

    def _parts(self, reward, action, pscore, action_dist, estimated_rewards):
        w = self.weights(action, pscore, action_dist)
        return np.zeros_like(w), w * reward, w


@dataclass(frozen=True)
class DirectMethod(BaseOffPolicyEstimator):
    """DM: mean of sum_a pi_e(a | x_i) q(x_i, a). No weights; biased by the reward model."""

    name: ClassVar[str] = "dm"
    needs_estimated_rewards: ClassVar[bool] = True
    uses_weights: ClassVar[bool] = False

    def _parts(self, reward, action, pscore, action_dist, estimated_rewards):
        return (_dm_terms(action_dist, estimated_rewards),)


class _DoublyRobustFamily(BaseOffPolicyEstimator):
    """DM term plus a weighted residual; members differ only in the residual's weights."""

    needs_estimated_rewards: ClassVar[bool] = True

    def _correction_weights(self, w: np.ndarray) -> np.ndarray:
        """The weights applied to the residual r_i - q(x_i, a_i)."""
        return w

    def _parts(self, reward, action, pscore, action_dist, estimated_rewards):
        w = self._correction_weights(self.weights(action, pscore, action_dist))
        residual = reward - _logged(estimated_rewards, action)
        return (_dm_terms(action_dist, estimated_rewards) + w * residual,)


@dataclass(frozen=True)
class DoublyRobust(_DoublyRobustFamily):
    """DR: the DM term plus w_i (r_i - q(x_i, a_i)). Unbiased when either the propensities
    or q are right; exact when q is (and rewards are noiseless).

    Parameters
    ----------
    clip
        Weight cap M (``min(w, M)``), or None.
    """

    clip: float | None = None
    name: ClassVar[str] = "dr"

    def __post_init__(self):
        _check_clip(self.clip)


@dataclass(frozen=True)
class SelfNormalizedDoublyRobust(BaseOffPolicyEstimator):
    """SNDR: DR with the weighted residual term divided by mean(w) (as OBP defines it).

    Parameters
    ----------
    clip
        Weight cap M (``min(w, M)``), or None.
    """

    clip: float | None = None
    name: ClassVar[str] = "sndr"
    needs_estimated_rewards: ClassVar[bool] = True

    def __post_init__(self):
        _check_clip(self.clip)

    def _parts(self, reward, action, pscore, action_dist, estimated_rewards):
        w = self.weights(action, pscore, action_dist)
        residual = reward - _logged(estimated_rewards, action)
        return _dm_terms(action_dist, estimated_rewards), w * residual, w


@dataclass(frozen=True)
class SwitchDoublyRobust(_DoublyRobustFamily):
    """Switch-DR: the DM term plus 1[w_i <= tau] w_i (r_i - q(x_i, a_i)); falls back to DM
    where weights are large. tau = inf gives DR, tau = 0 gives DM (OBP calls tau lambda_).

    Parameters
    ----------
    tau
        The weight threshold, >= 0.
    clip
        Weight cap M applied before the switch, or None.
    """

    tau: float
    clip: float | None = None
    name: ClassVar[str] = "switch-dr"

    def __post_init__(self):
        _check_clip(self.clip)
        if not self.tau >= 0:
            raise ValueError(f"tau must be >= 0, got {self.tau}")

    def _correction_weights(self, w):
        return np.where(w <= self.tau, w, 0.0)


@dataclass(frozen=True)
class DoublyRobustWithShrinkage(_DoublyRobustFamily):
    """DRos: the DM term plus w'_i (r_i - q(x_i, a_i)) with w' = lambda w / (w^2 + lambda).
    lambda = 0 gives DM, lambda -> inf gives DR.

    Parameters
    ----------
    lambda_
        The shrinkage, >= 0 (inf for none).
    clip
        Weight cap M applied before the shrinkage, or None.
    """

    lambda_: float
    clip: float | None = None
    name: ClassVar[str] = "dr-os"

    def __post_init__(self):
        _check_clip(self.clip)
        if not self.lambda_ >= 0:
            raise ValueError(f"lambda_ must be >= 0, got {self.lambda_}")

    def _correction_weights(self, w):
        if np.isinf(self.lambda_):
            return w
        # lambda = 0 with w = 0 would be 0/0; the shrunk weight is 0 there
        return _ratio(self.lambda_ * w, w**2 + self.lambda_)


def cross_fit_rewards(
    fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
    n_folds: int,
    n: int,
    groups=None,
    random_state: int | None = 0,
) -> np.ndarray:
    """Cross-fitted reward estimates: each round is scored by a model fitted without it.

    Parameters
    ----------
    fit_predict
        ``fit_predict(train_idx, score_idx)`` fits a reward model on the rounds
        ``train_idx`` and returns q(x, a) for the rounds ``score_idx`` as a
        (len(score_idx), K) array. Any model and features: only indices are passed.
    n_folds
        Folds (>= 2).
    n
        Number of logged rounds.
    groups
        Optional (n,) group labels (customer ids): folds then split groups, so a
        customer's rounds never sit on both sides.
    random_state
        Seed of the fold assignment.

    Returns
    -------
    numpy.ndarray
        The (n, K) estimated rewards.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    if n < n_folds:
        raise ValueError(f"cannot split {n} rounds into {n_folds} folds")
    placeholder = np.zeros((n, 1))
    if groups is None:
        splits = KFold(n_folds, shuffle=True, random_state=random_state).split(placeholder)
    else:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(f"groups must have shape ({n},), got {groups.shape}")
        if len(np.unique(groups)) < n_folds:
            raise ValueError(f"fewer groups than folds ({n_folds})")
        splits = GroupKFold(n_folds, shuffle=True, random_state=random_state).split(
            placeholder, groups=groups
        )
    out: np.ndarray | None = None
    for train_idx, score_idx in splits:
        pred = np.asarray(fit_predict(train_idx, score_idx), dtype=float)
        if pred.ndim != 2 or pred.shape[0] != len(score_idx):
            raise ValueError(
                f"fit_predict must return a ({len(score_idx)}, K) array, got shape {pred.shape}"
            )
        if out is None:
            out = np.full((n, pred.shape[1]), np.nan)
        elif pred.shape[1] != out.shape[1]:
            raise ValueError("fit_predict returned a different number of actions across folds")
        out[score_idx] = pred
    return out


def estimate_all(
    estimators: Sequence[BaseOffPolicyEstimator],
    reward,
    action,
    pscore,
    action_dist,
    estimated_rewards=None,
    *,
    alpha: float = 0.05,
    n_bootstrap: int = 2000,
    random_state: RandomState = 0,
) -> pd.DataFrame:
    """Every estimator's value and bootstrap interval on the same log, one row each.

    With an int ``random_state`` all estimators resample the same rounds, so their
    intervals differ by the estimator, not by the draw.

    Returns
    -------
    pandas.DataFrame
        ``estimator`` (its name), ``value``, ``lower``, ``upper`` and ``ess`` (the
        effective sample size of the estimator's clipped importance weights, before any
        switch or shrinkage: how well the log covers the policy; NaN for DM).
    """
    reward, action, pscore, action_dist, estimated_rewards = check_bandit_feedback(
        reward, action, pscore, action_dist, estimated_rewards
    )
    rows = []
    for est in estimators:
        ci = est.estimate_interval(
            reward,
            action,
            pscore,
            action_dist,
            estimated_rewards,
            alpha=alpha,
            n_bootstrap=n_bootstrap,
            random_state=random_state,
        )
        ess = (
            effective_sample_size(est.weights(action, pscore, action_dist))
            if est.uses_weights
            else float("nan")
        )
        rows.append(
            {
                "estimator": est.name,
                "value": ci["mean"],
                "lower": ci["lower"],
                "upper": ci["upper"],
                "ess": ess,
            }
        )
    return pd.DataFrame(rows, columns=["estimator", "value", "lower", "upper", "ess"])
