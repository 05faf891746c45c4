"""Reward models for next-best-offer: the expected outcome of every action for every
customer, and the deployable offer model built on them.

Actions are indexed ``0..K-1`` with "no offer" (the control) last. Each learner
fits on logged contacts (features, the action taken, its logging propensity, the
outcome) and predicts an ``(n, K)`` array of expected outcomes:

- :class:`SLearner`: one model with the action as a feature;
- :class:`TLearner`: one model per action;
- :class:`DRLearner`: the doubly robust learner (Kennedy 2023): cross-fitted
  per-action outcome models give, for each offer ``a`` against no offer, the
  pseudo-outcome ``q_a - q_0 + 1[A=a] (Y - q_a) / p - 1[A=0] (Y - q_0) / p``,
  regressed on the features (squared loss) for the offer's uplift ``tau_a(x)``;
  the expected outcome of ``a`` is ``q_0(x) + tau_a(x)``.

The base estimator is the model config's ``regression`` node (Tweedie for the
tree models: revenue is a spike at zero with a heavy tail).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold

from socialcrm.explain.shap_values import Explanation, explain, explainable
from socialcrm.models.calibration import FeatureInput, feature_frame, to_float
from socialcrm.models.factory import build_pipeline

ACTION_COLUMN = "offer_action"  # the S-learner's action feature


def fit_outcome_model(
    model_cfg: Mapping[str, Any],
    numeric: list[str],
    categorical: list[str],
    seed: int,
    X: pd.DataFrame,
    y: np.ndarray,
):
    """The config's regressor fitted on ``(X, y)``; where every outcome is zero (a small
    arm without a buyer) the outcome is known to be zero, which a Tweedie loss refuses
    to fit: a constant 0 with the same preprocessing stands in (it explains nothing)."""
    from sklearn.dummy import DummyRegressor
    from sklearn.pipeline import Pipeline

    pipe = build_pipeline(model_cfg, "regression", numeric, categorical, seed)
    if len(y) and not np.any(y):
        pipe = Pipeline(
            [
                ("prep", pipe.named_steps["prep"]),
                ("model", DummyRegressor(strategy="constant", constant=0.0)),
            ]
        )
    return pipe.fit(X, y)


def squared_loss(pipeline) -> None:
    """Switch a Tweedie tree model of the pipeline to squared loss (for outcomes that
    can be negative, such as uplift pseudo-outcomes); other estimators are left as
    they are (a ridge regression already is)."""
    model = pipeline.named_steps["model"]
    name = type(model).__name__
    if name.startswith("LGBM"):
        model.set_params(objective="regression")
    elif name.startswith("XGB"):
        model.set_params(objective="reg:squarederror")


class _Base:
    numeric: list[str]
    categorical: list[str]
    n_actions: int

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        return feature_frame(X, self.numeric, self.categorical, check=False)


@dataclass
class SLearner(_Base):
    """One regressor on the features plus the action (a categorical feature)."""

    model_cfg: Mapping[str, Any]
    numeric: list[str]
    categorical: list[str]
    n_actions: int
    seed: int = 0
    pipeline: Any = None

    def _with_action(self, X: pd.DataFrame, action) -> pd.DataFrame:
        return X.assign(**{ACTION_COLUMN: np.asarray(action).astype(str)})

    def fit(self, X, action, outcome, propensity=None) -> SLearner:
        cats = [*self.categorical, ACTION_COLUMN]
        self.pipeline = build_pipeline(self.model_cfg, "regression", self.numeric, cats, self.seed)
        self.pipeline.fit(self._with_action(self._frame(X), action), outcome)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        Xf = self._frame(X)
        cols = [
            self.pipeline.predict(self._with_action(Xf, np.full(len(Xf), a)))
            for a in range(self.n_actions)
        ]
        return np.column_stack(cols) if len(Xf) else np.empty((0, self.n_actions))

    def explain_pair(self, X: pd.DataFrame, a: int, b: int) -> Explanation:
        """Contributions to the margin difference between actions ``a`` and ``b``."""
        Xf = self._frame(X)
        ea = explain(self.pipeline, self._with_action(Xf, np.full(len(Xf), a)))
        eb = explain(self.pipeline, self._with_action(Xf, np.full(len(Xf), b)))
        return _difference(ea, eb, list(Xf.columns))


@dataclass
class TLearner(_Base):
    """One regressor per action, fitted on the contacts that received it."""

    model_cfg: Mapping[str, Any]
    numeric: list[str]
    categorical: list[str]
    n_actions: int
    seed: int = 0
    min_rows: int = 20
    pipelines: list = field(default_factory=list)

    def fit(self, X, action, outcome, propensity=None) -> TLearner:
        Xf, action, outcome = self._frame(X), np.asarray(action), np.asarray(outcome, float)
        self.pipelines = []
        for a in range(self.n_actions):
            rows = action == a
            if rows.sum() < self.min_rows:
                raise ValueError(
                    f"action {a} was taken in {int(rows.sum())} training contacts, fewer than "
                    f"{self.min_rows}: a per-action (T-) learner cannot fit it; use learner=s"
                )
            self.pipelines.append(
                fit_outcome_model(
                    self.model_cfg,
                    self.numeric,
                    self.categorical,
                    self.seed,
                    Xf[rows],
                    outcome[rows],
                )
            )
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        Xf = self._frame(X)
        if not len(Xf):
            return np.empty((0, self.n_actions))
        return np.column_stack([p.predict(Xf) for p in self.pipelines])

    def explain_pair(self, X: pd.DataFrame, a: int, b: int) -> Explanation:
        Xf = self._frame(X)
        return _difference(
            explain(self.pipelines[a], Xf), explain(self.pipelines[b], Xf), list(Xf.columns)
        )


@dataclass
class DRLearner(_Base):
    """Doubly robust uplift learner: cross-fitted outcome models, then one effect model
    per offer on the pseudo-outcomes (see the module docstring).

    Parameters
    ----------
    n_folds
        Folds of the cross-fitting (grouped by ``groups`` when given to :meth:`fit`).
    max_weight
        Inverse propensities are capped here (rare actions would otherwise dominate).
    """

    model_cfg: Mapping[str, Any]
    numeric: list[str]
    categorical: list[str]
    n_actions: int
    seed: int = 0
    n_folds: int = 3
    max_weight: float = 20.0
    control: TLearner | None = None
    effects: list = field(default_factory=list)

    def fit(self, X, action, outcome, propensity, groups=None) -> DRLearner:
        Xf, action = self._frame(X), np.asarray(action)
        y, p = np.asarray(outcome, float), np.asarray(propensity, float)
        none = self.n_actions - 1
        q = np.zeros((len(Xf), self.n_actions))
        splitter = (
            GroupKFold(self.n_folds)
            if groups is not None
            else KFold(self.n_folds, shuffle=True, random_state=self.seed)
        )
        for train, score in splitter.split(Xf, groups=groups):
            t = TLearner(self.model_cfg, self.numeric, self.categorical, self.n_actions, self.seed)
            q[score] = t.fit(Xf.iloc[train], action[train], y[train]).predict(Xf.iloc[score])
        weight = np.minimum(1.0 / p, self.max_weight)
        rows = np.arange(len(Xf))
        residual = y - q[rows, action]
        self.effects = []
        for a in range(self.n_actions - 1):
            pseudo = (
                q[:, a]
                - q[:, none]
                + np.where(action == a, weight * residual, 0.0)
                - np.where(action == none, weight * residual, 0.0)
            )
            pipe = build_pipeline(
                self.model_cfg, "regression", self.numeric, self.categorical, self.seed
            )
            squared_loss(pipe)
            self.effects.append(pipe.fit(Xf, pseudo))
        self.control = TLearner(
            self.model_cfg, self.numeric, self.categorical, self.n_actions, self.seed
        )
        self.control.fit(Xf, action, y)
        return self

    def uplift(self, X: pd.DataFrame) -> np.ndarray:
        """``(n, K-1)``: each offer's expected outcome minus no offer's."""
        Xf = self._frame(X)
        if not len(Xf):
            return np.empty((0, self.n_actions - 1))
        return np.column_stack([e.predict(Xf) for e in self.effects])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if not len(X):
            return np.empty((0, self.n_actions))
        base = self.control.predict(X)[:, -1]
        return np.column_stack([base[:, None] + self.uplift(X), base])

    def explain_pair(self, X: pd.DataFrame, a: int, b: int) -> Explanation:
        if b != self.n_actions - 1:
            raise ValueError("the DR-learner explains an offer against no offer only")
        return explain(self.effects[a], self._frame(X))


LEARNERS = {"s": SLearner, "t": TLearner, "dr": DRLearner}


def build_learner(
    name: str,
    model_cfg: Mapping[str, Any],
    numeric: list[str],
    categorical: list[str],
    n_actions: int,
    seed: int,
):
    """``s``, ``t`` or ``dr`` (see the module docstring)."""
    if name not in LEARNERS:
        raise ValueError(f"task.learner must be one of {sorted(LEARNERS)}, got {name!r}")
    return LEARNERS[name](model_cfg, list(numeric), list(categorical), n_actions, seed)


def _difference(a: Explanation, b: Explanation, columns: Sequence[str]) -> Explanation:
    values = a.values[list(columns)] - b.values[list(columns)]
    return Explanation(
        values=values,
        base_value=float(a.base_value - b.base_value),
        data=a.data[list(columns)],
        margin=np.asarray(a.margin) - np.asarray(b.margin),
    )


@dataclass
class OfferCatalog:
    """The actions: offers with their economics and rules, then "no offer" last."""

    offer_ids: list[str]
    cost: np.ndarray  # per action (no offer: 0)
    margin: np.ndarray  # per action (no offer: the margin of ordinary sales)
    channel: list[str | None]
    eligible_plans: list[str | None]
    min_tenure_days: np.ndarray

    NONE = "none"

    @property
    def actions(self) -> list[str]:
        return [*self.offer_ids, self.NONE]

    @property
    def none_index(self) -> int:
        return len(self.offer_ids)

    @classmethod
    def from_table(cls, offers: pd.DataFrame, no_offer_margin: float) -> OfferCatalog:
        """From the ``offers`` table (``offer_id, channel, cost, margin, eligible_plans,
        min_tenure_days``), in its row order."""
        need = ["offer_id", "cost", "margin"]
        missing = [c for c in need if c not in offers.columns]
        if missing:
            raise ValueError(f"the offers table lacks columns {missing}")

        def col(name: str, default) -> pd.Series:
            if name in offers.columns:
                return offers[name]
            return pd.Series(default, index=offers.index)

        plans = [
            None if pd.isna(v) or not str(v).strip() else str(v)
            for v in col("eligible_plans", None)
        ]
        return cls(
            offer_ids=[str(v) for v in offers["offer_id"]],
            cost=np.r_[offers["cost"].to_numpy(float), 0.0],
            margin=np.r_[offers["margin"].to_numpy(float), float(no_offer_margin)],
            channel=[*[None if pd.isna(v) else str(v) for v in col("channel", None)], None],
            eligible_plans=plans,
            min_tenure_days=col("min_tenure_days", 0).fillna(0).to_numpy(float),
        )

    def index(self, offer_id: pd.Series) -> np.ndarray:
        """Action index of each logged offer id (missing: no offer).

        Raises
        ------
        ValueError
            For an offer id the catalog does not hold.
        """
        lookup = {o: i for i, o in enumerate(self.offer_ids)}
        ids = offer_id.astype("string")
        unknown = sorted(set(ids.dropna()) - set(lookup))
        if unknown:
            raise ValueError(f"offer_log names offers not in the offers table: {unknown[:5]}")
        return ids.map(lookup).fillna(self.none_index).astype(int).to_numpy()


def to_reward(
    outcome: np.ndarray, action: np.ndarray, catalog: OfferCatalog, reward: str
) -> np.ndarray:
    """The reward of each logged contact from its outcome (revenue or response):
    ``profit`` = margin of the action x revenue - contact cost; ``revenue``; ``response``."""
    outcome = np.asarray(outcome, float)
    if reward == "profit":
        return catalog.margin[action] * outcome - catalog.cost[action]
    return outcome


def expected_reward(outcome: np.ndarray, catalog: OfferCatalog, reward: str) -> np.ndarray:
    """``(n, K)`` expected reward of every action from the expected outcomes."""
    if reward == "profit":
        return outcome * catalog.margin[None, :] - catalog.cost[None, :]
    return outcome


@dataclass
class OfferModel(FeatureInput):
    """What gets deployed for next-best-offer: feature rows in; per customer the
    recommended action, the expected reward of every action, and the propensity of
    the recommendation under the exploring (epsilon-greedy) policy.

    It follows the scoring model's interface (``frame``, ``scores``, ``explanation``)
    so the shared pyfunc, logging and SHAP code serve it unchanged.

    Attributes
    ----------
    learner
        A fitted :class:`SLearner`, :class:`TLearner` or :class:`DRLearner`.
    catalog
        The actions and their economics.
    reward
        ``profit``, ``revenue`` or ``response``.
    epsilon
        Exploration share of the deployed policy (0: deterministic).
    plan_column, tenure_column
        Feature columns that decide eligibility.
    """

    learner: Any
    catalog: OfferCatalog
    reward: str
    numeric: list[str]
    categorical: list[str]
    epsilon: float = 0.1
    plan_column: str = "plan"
    tenure_column: str = "tenure_days"
    kind: str = "policy"
    info: dict = field(default_factory=dict)

    output_name = "action"

    def eligible(self, X: pd.DataFrame) -> np.ndarray:
        from socialcrm.models.policy import eligibility

        plans = (
            X[self.plan_column].astype(str).to_numpy()
            if self.plan_column in X
            else np.full(len(X), "")
        )
        tenure = (
            to_float(X[self.tenure_column]).to_numpy()
            if self.tenure_column in X
            else np.full(len(X), np.nan)
        )
        return eligibility(plans, tenure, self.catalog.eligible_plans, self.catalog.min_tenure_days)

    def expected(self, X: pd.DataFrame) -> np.ndarray:
        """``(n, K)`` expected reward of every action (ineligible offers included)."""
        return expected_reward(self.learner.predict(X), self.catalog, self.reward)

    def recommend(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: the best eligible action (no offer unless an offer pays more), the
        ``(n, K)`` expected rewards and the eligibility."""
        from socialcrm.models.policy import Constraints, optimal_assignment

        value = self.expected(X)
        ok = self.eligible(X)
        best = optimal_assignment(
            value,
            ok,
            self.catalog.cost,
            self.catalog.channel,
            Constraints(),
            self.catalog.none_index,
        )
        return best, value, ok

    def scores(self, X: pd.DataFrame) -> pd.DataFrame:
        X = self.frame(X)
        if X.empty:
            cols = [
                "action",
                *[f"expected_{self.reward}_{a}" for a in self.catalog.actions],
                "propensity",
            ]
            return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols}).astype(
                {"action": "str"}
            )
        best, value, ok = self.recommend(X)
        n_ok = ok.sum(axis=1)
        propensity = (1 - self.epsilon) + self.epsilon / n_ok
        out = pd.DataFrame(
            {"action": np.asarray(self.catalog.actions, dtype=object)[best]}, index=X.index
        )
        for i, a in enumerate(self.catalog.actions):
            out[f"expected_{self.reward}_{a}"] = np.where(ok[:, i], value[:, i], np.nan)
        out["propensity"] = propensity
        return out

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The recommended action of each row."""
        return self.scores(X)["action"].to_numpy()

    @property
    def explainable(self) -> bool:
        pipes = getattr(self.learner, "pipelines", None) or getattr(self.learner, "effects", None)
        pipes = pipes or [getattr(self.learner, "pipeline", None)]
        return all(p is not None and explainable(p) for p in pipes)

    def explanation(self, X: pd.DataFrame) -> Explanation:
        """Contributions to the uplift of each row's best offer over no offer (on the
        reward model's margin: for Tweedie models the log of the ratio of expected
        outcomes, for the DR-learner the uplift itself)."""
        value = self.expected(X)
        ok = self.eligible(X)
        none = self.catalog.none_index
        offers = np.where(ok[:, :none], value[:, :none], -np.inf)
        best = offers.argmax(axis=1)
        parts = []
        for a in np.unique(best):
            rows = X.index[best == a]
            parts.append((rows, self.learner.explain_pair(X.loc[rows], int(a), none)))
        values = pd.concat([p.values for _, p in parts]).reindex(X.index)
        margin = pd.concat([pd.Series(np.asarray(p.margin), index=r) for r, p in parts]).reindex(
            X.index
        )
        base = float(np.mean([p.base_value for _, p in parts])) if parts else 0.0
        return Explanation(
            values=values, base_value=base, data=X[values.columns], margin=margin.to_numpy()
        )
