"""The next-best-offer task: which offer (or none) to make to whom, and how much
better that policy is than today's, judged off-policy before anything is deployed.

Rows are logged contacts (``offer_log``: customer, time, offer or none as the
control, the logging policy's propensity, response, revenue), each with the
customer's features as of the last cutoff before the contact (point in time;
tenure is taken at the contact). The reward is configurable: ``profit`` (margin
of the action x revenue - contact cost; the default), ``revenue`` or
``response``. Contacts are split by time (train on the earlier ones, validate,
test on the latest period, purged by the response window).

A reward model (:mod:`socialcrm.models.uplift`: S-, T- or DR-learner) gives the
expected reward of every action; the policy takes per customer the eligible
action with the highest expected reward under the campaign's constraints
(:mod:`socialcrm.models.policy`). On the test contacts it is compared with the
logging policy (the rewards it earned), every static policy, random and, on
synthetic data, the oracle policy (the same constraints on the true expected
rewards), each valued by the off-policy estimators of
:mod:`socialcrm.evaluation.ope` with bootstrap intervals, and by the truth where
it is known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from socialcrm.errors import ConfigError
from socialcrm.evaluation import ope
from socialcrm.evaluation import plots as eval_plots
from socialcrm.evaluation import uplift as uplift_metrics
from socialcrm.models import policy as pol
from socialcrm.models.uplift import (
    OfferCatalog,
    OfferModel,
    build_learner,
    expected_reward,
    to_reward,
)
from socialcrm.tasks.base import TaskResult, select_columns
from socialcrm.tasks.protocol import Headline
from socialcrm.tasks.splits import period_split

ESTIMATORS = ("ipw", "snipw", "dm", "dr", "switch-dr", "dr-os")
HEADLINE_ESTIMATOR = "dr"


def contact_rows(
    offer_log: pd.DataFrame,
    features: pd.DataFrame,
    feature_columns: Sequence[str],
    tenure_column: str = "tenure_days",
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Each logged contact with its customer's features as of the last cutoff at or
    before the contact (features at a cutoff use only events before it).

    Parameters
    ----------
    offer_log
        ``customer_id, timestamp, offer_id, propensity, response, revenue``.
    features
        The feature table (``customer_id, cutoff`` and the feature columns).
    feature_columns
        The columns to carry; labels never are.
    tenure_column
        Set to the tenure at the contact (known when the offer is chosen).

    Returns
    -------
    (rows, counts)
        The contact rows (``feature_cutoff`` says which cutoff they came from) and
        how many contacts had no feature row before them (dropped).
    """
    need = ["customer_id", "timestamp", "offer_id", "propensity"]
    missing = [c for c in need if c not in offer_log.columns]
    if missing:
        raise ValueError(f"offer_log lacks columns {missing}")
    log = offer_log.assign(timestamp=pd.to_datetime(offer_log["timestamp"])).sort_values(
        "timestamp"
    )
    cols = [
        "customer_id",
        "cutoff",
        *[c for c in feature_columns if c not in ("customer_id", "cutoff")],
    ]
    table = features[cols].rename(columns={"cutoff": "feature_cutoff"})
    table = table.assign(feature_cutoff=pd.to_datetime(table["feature_cutoff"])).sort_values(
        "feature_cutoff"
    )
    log = log.assign(customer_id=log["customer_id"].astype(str))
    table = table.assign(customer_id=table["customer_id"].astype(str))
    rows = pd.merge_asof(
        log,
        table,
        left_on="timestamp",
        right_on="feature_cutoff",
        by="customer_id",
        direction="backward",
        allow_exact_matches=True,
    )
    known = rows["feature_cutoff"].notna()
    rows = rows[known].reset_index(drop=True)
    if tenure_column in rows.columns:
        since = (rows["timestamp"] - rows["feature_cutoff"]).dt.total_seconds() / 86400.0
        rows[tenure_column] = rows[tenure_column].astype(float) + since
    return rows, {"contacts": len(log), "without_features": int((~known).sum())}


def true_rewards(
    truth: pd.DataFrame, rows: pd.DataFrame, catalog: OfferCatalog, reward: str
) -> np.ndarray | None:
    """``(n, K)`` true expected reward of every action for the contact rows, from a
    synthetic world's truth: ``truth/offer_contact`` (every action at each logged
    contact, keyed by ``log_id``: what the logged outcome is a draw of) or, lacking
    it, ``truth/offer_response`` (per customer, at the customer's baseline). None if
    the truth lacks a row."""
    key = "log_id" if "log_id" in truth.columns else "customer_id"
    if key not in rows.columns:
        return None
    t = truth.assign(offer_id=truth["offer_id"].astype("string").fillna(OfferCatalog.NONE))
    column = "p_response" if reward == "response" else "expected_revenue"
    wide = t.pivot_table(index=key, columns="offer_id", values=column, aggfunc="first")
    wide = wide.reindex(columns=catalog.actions)
    values = wide.reindex(rows[key].astype(str).to_numpy()).to_numpy(float)
    if np.isnan(values).any():
        return None
    return expected_reward(values, catalog, reward)


class NboTask:
    """Next-best-offer: reward models, a constrained policy and off-policy evaluation.

    Parameters
    ----------
    reward
        ``profit`` (margin x revenue - contact cost), ``revenue`` or ``response``.
    learner
        ``s``, ``t`` or ``dr`` (see :mod:`socialcrm.models.uplift`).
    no_offer_margin
        Margin on revenue without an offer (the offers table has each offer's).
    response_days
        An offer's response window: the purge between train, valid and test.
    test_days, valid_days
        The latest contacts in the test and validation periods.
    budget, capacity, channel_limits
        The campaign's constraints (see :class:`socialcrm.models.policy.Constraints`).
    epsilon
        Exploration share of the deployed policy (its propensities log the next campaign).
    ope
        ``clip`` (weight cap, null: none), ``switch_tau``, ``shrinkage_lambda``,
        ``n_bootstrap``, ``alpha``, ``cv_folds`` (cross-fitted reward model of DM/DR).
    plan_column, tenure_column
        Feature columns for eligibility.
    explain, explain_max_rows, top_reasons, salt
        As for the other tasks: reasons are the factors of the recommended offer's
        uplift over no offer.
    """

    name = "nbo"
    question = (
        "Which offer (or none) should each customer get, and how much more is that policy "
        "worth than today's, judged off-policy before deployment?"
    )
    kind = "regression"
    target = "reward"
    # the truth tables exist for synthetic worlds only: true values and the oracle
    context_tables = ("offer_log", "offers", "truth/offer_contact", "truth/offer_response")
    context_models: Mapping[str, str] = {}
    headline = (
        Headline("policy value (DR)", "policy_value", ",.2f"),
        Headline("  95% lower", "policy_value_lower", ",.2f"),
        Headline("  95% upper", "policy_value_upper", ",.2f"),
        Headline("gain vs logging (DR)", "gain_vs_logging", ",.2f"),
        Headline("  95% lower", "gain_vs_logging_lower", ",.2f"),
        Headline("gain vs best static (DR)", "gain_vs_best_static", ",.2f"),
        Headline("  95% lower", "gain_vs_best_static_lower", ",.2f"),
        Headline("true policy value", "true_policy_value", ",.2f"),
        Headline("share of oracle (true)", "share_of_oracle", ".3f"),
        Headline("effective sample size", "ess", ",.0f"),
        Headline("contacts offered", "offer_share", ".3f"),
        Headline("mean Qini coefficient", "qini_mean", ".3f"),
    )
    dvc_tables = ("policy_dr", "offer_mix")

    def __init__(
        self,
        reward: str = "profit",
        learner: str = "s",
        metric: str = "policy_value",
        no_offer_margin: float = 0.3,
        response_days: int = 14,
        test_days: int = 180,
        valid_days: int = 90,
        budget: Mapping[str, Any] | None = None,
        capacity: Mapping[str, int] | None = None,
        channel_limits: Mapping[str, int] | None = None,
        epsilon: float = 0.1,
        ope: Mapping[str, Any] | None = None,
        plan_column: str = "plan",
        tenure_column: str = "tenure_days",
        explain: bool = True,
        explain_max_rows: int = 3000,
        top_reasons: int = 3,
        salt: str = "socialcrm",
    ):
        if reward not in ("profit", "revenue", "response"):
            raise ValueError(f"task.reward must be profit, revenue or response, got {reward!r}")
        if not 0 <= epsilon < 1:
            raise ValueError(f"task.epsilon must be in [0, 1), got {epsilon}")
        self.reward = reward
        self.learner = learner
        self.metric = metric
        self.no_offer_margin = float(no_offer_margin)
        self.response_days = int(response_days)
        self.test_days = int(test_days)
        self.valid_days = int(valid_days)
        self.budget = dict(budget or {})
        self.capacity = dict(capacity or {})
        self.channel_limits = dict(channel_limits or {})
        self.epsilon = float(epsilon)
        self.ope = {
            "clip": None,
            "switch_tau": 20.0,
            "shrinkage_lambda": 50.0,
            "n_bootstrap": 1000,
            "alpha": 0.05,
            "cv_folds": 3,
        } | dict(ope or {})
        self.plan_column = plan_column
        self.tenure_column = tenure_column
        self.explain = explain
        self.explain_max_rows = explain_max_rows
        self.top_reasons = top_reasons
        self.salt = salt

    # -- the protocol -----------------------------------------------------------------

    def fit_evaluate(
        self,
        frame: pd.DataFrame,
        manifest: Sequence[Mapping[str, str]],
        groups: Sequence[str],
        model_cfg: Mapping[str, Any],
        seed: int,
        context: Mapping[str, pd.DataFrame] | None = None,
    ) -> TaskResult:
        """Build the contact rows from the feature table and ``context["offer_log"]``
        and ``context["offers"]``, then :meth:`evaluate_contacts`."""
        context = context or {}
        contacts, numeric, categorical, catalog, counts = self._contacts(
            frame, manifest, groups, context
        )
        result = self.evaluate_contacts(
            contacts,
            numeric,
            categorical,
            catalog,
            model_cfg,
            seed,
            truth=context.get("truth/offer_contact", context.get("truth/offer_response")),
        )
        result.info["contacts"] = counts
        return result

    def _catalog(self, context: Mapping[str, pd.DataFrame]) -> OfferCatalog:
        if context.get("offers") is None:
            raise ConfigError(
                "task=nbo needs the 'offers' table in the data set (data.tables.offers); "
                "this data set has none"
            )
        return OfferCatalog.from_table(context["offers"], self.no_offer_margin)

    def _contacts(self, frame, manifest, groups, context: Mapping[str, pd.DataFrame]):
        """The logged contacts with features at contact time, action index, outcome and
        period; the feature columns, the catalog and the row counts."""
        if context.get("offer_log") is None:
            raise ConfigError(
                "task=nbo needs the 'offer_log' table in the data set (data.tables.offer_log); "
                "this data set has none"
            )
        catalog = self._catalog(context)
        numeric, categorical = select_columns(manifest, groups)
        rows, counts = contact_rows(
            context["offer_log"], frame, [*numeric, *categorical], self.tenure_column
        )
        outcome = (
            rows["response"].astype(float)
            if self.reward == "response"
            else rows["revenue"].astype(float)
        )
        contacts = rows.assign(
            action=catalog.index(rows["offer_id"]),
            outcome=outcome.to_numpy(),
            split=period_split(
                rows["timestamp"], self.test_days, self.valid_days, self.response_days
            ),
        )
        return contacts, numeric, categorical, catalog, counts

    # -- a deployed model -------------------------------------------------------------

    def evaluation_rows(
        self,
        frame: pd.DataFrame,
        manifest: Sequence[Mapping[str, str]],
        groups: Sequence[str],
        model_cfg: Mapping[str, Any],
        seed: int,
        context: Mapping[str, pd.DataFrame] | None = None,
    ) -> pd.DataFrame:
        """The test period's contacts: features at contact time, the logged ``action``,
        ``propensity`` and ``reward``, and the cross-fitted reward estimates ``q_<k>``
        of every action (``model_cfg``, as in :meth:`fit_evaluate`): what the DR value
        of any policy on them needs. Keeps the catalog for :meth:`deployed_metrics`."""
        contacts, numeric, categorical, catalog, _ = self._contacts(
            frame, manifest, groups, context or {}
        )
        test = contacts[contacts["split"] == "test"].reset_index(drop=True)
        if test.empty:
            raise ValueError("the test period has no contacts (task.test_days)")
        test = test.assign(
            reward=to_reward(
                test["outcome"].to_numpy(float), test["action"].to_numpy(int), catalog, self.reward
            )
        )
        q = self._ope_rewards(test, numeric, categorical, catalog, model_cfg, seed)
        keep = ["customer_id", "timestamp", *numeric, *categorical]
        out = test[[*keep, "action", "propensity", "reward"]].copy()
        for k in range(q.shape[1]):
            out[f"q_{k}"] = q[:, k]
        self.catalog_ = catalog
        return out

    def _policy(self, outputs: pd.DataFrame, catalog: OfferCatalog) -> np.ndarray:
        """The action index per row under the campaign's constraints, from the model's
        expected rewards (NaN: not eligible)."""
        cols = [f"expected_{self.reward}_{a}" for a in catalog.actions]
        missing = [c for c in cols if c not in outputs.columns]
        if missing:
            raise ValueError(
                f"the model's outputs lack {missing}: it was trained for another reward "
                "or offer catalog"
            )
        expected = outputs[cols].to_numpy(float)
        ok = ~np.isnan(expected)
        return self._assign(np.where(ok, expected, 0.0), ok, catalog)

    def deployed_metrics(self, rows: pd.DataFrame, outputs: pd.DataFrame) -> dict[str, float]:
        """The DR value of the model's policy (under the campaign's constraints) on the
        contacts, its gain over the logging policy and the share offered."""
        catalog = getattr(self, "catalog_", None)
        if catalog is None:
            raise ValueError("deployed_metrics needs the rows of evaluation_rows first")
        assignment = self._policy(outputs, catalog)
        K = len(catalog.actions)
        reward = rows["reward"].to_numpy(float)
        terms = ope.DoublyRobust(clip=self.ope.get("clip")).round_rewards(
            reward=reward,
            action=rows["action"].to_numpy(int),
            pscore=rows["propensity"].to_numpy(float),
            action_dist=pol.one_hot(assignment, K),
            estimated_rewards=rows[[f"q_{k}" for k in range(K)]].to_numpy(float),
        )
        return {
            "policy_value": float(terms.mean()),
            "gain_vs_logging": float((terms - reward).mean()),
            "logging_value": float(reward.mean()),
            "offer_share": float((assignment != catalog.none_index).mean()),
            "n": float(len(rows)),
        }

    def decide(
        self,
        rows: pd.DataFrame,
        outputs: pd.DataFrame,
        context: Mapping[str, pd.DataFrame] | None = None,
    ) -> pd.Series | None:
        """The action of each row under the campaign's budget, capacity and channel
        limits (``context["offers"]``: the catalog), solved over the whole batch."""
        catalog = self._catalog(context or {})
        actions = np.asarray(catalog.actions, dtype=object)[self._policy(outputs, catalog)]
        return pd.Series(actions, index=outputs.index, name="decision")

    def summary_rows(self, result: TaskResult) -> list[tuple[str, str, str]]:
        m = result.metrics
        mix = result.tables.get("offer_mix")
        top = ""
        if mix is not None and len(mix):
            top = ", ".join(
                f"{r.action} {r.share:.0%}"
                for r in mix.sort_values("share", ascending=False).head(4).itertuples()
            )
        return [
            (
                "best static policy",
                result.info.get("best_static", ""),
                f"{m.get('best_static_value', float('nan')):,.2f} (DR)",
            ),
            ("offer mix", top, "learned policy on the test contacts"),
        ]

    # -- the work ---------------------------------------------------------------------

    def evaluate_contacts(
        self,
        contacts: pd.DataFrame,
        numeric: list[str],
        categorical: list[str],
        catalog: OfferCatalog,
        model_cfg: Mapping[str, Any],
        seed: int,
        truth: pd.DataFrame | None = None,
    ) -> TaskResult:
        """Fit the reward model on the train contacts, choose the policy, value it and
        its comparators off-policy on the test contacts (validation value too).

        Parameters
        ----------
        contacts
            One row per logged contact: ``customer_id``, the feature columns,
            ``action`` (index into ``catalog.actions``), ``propensity``, ``outcome``
            (revenue or response) and ``split``.
        truth
            A synthetic world's truth (see :func:`true_rewards`): adds true values and
            the oracle.
        """
        need = ["customer_id", "action", "propensity", "outcome", "split"]
        missing = [c for c in need if c not in contacts.columns]
        if missing:
            raise ValueError(f"the contact rows lack columns {missing}")
        contacts = contacts.assign(
            reward=to_reward(
                contacts["outcome"].to_numpy(float),
                contacts["action"].to_numpy(int),
                catalog,
                self.reward,
            )
        )
        train, valid, test = (
            contacts[contacts["split"] == s].reset_index(drop=True)
            for s in ("train", "valid", "test")
        )
        for name, part in (("train", train), ("valid", valid), ("test", test)):
            if part.empty:
                raise ValueError(
                    f"the {name} period has no contacts (task.test_days, task.valid_days)"
                )
        K = len(catalog.actions)
        learner = build_learner(self.learner, model_cfg, numeric, categorical, K, seed)
        fit_args = dict(groups=train["customer_id"].to_numpy()) if self.learner == "dr" else {}
        learner.fit(
            train[[*numeric, *categorical]],
            train["action"].to_numpy(),
            train["outcome"].to_numpy(float),
            train["propensity"].to_numpy(float),
            **fit_args,
        )
        model = OfferModel(
            learner,
            catalog,
            self.reward,
            numeric,
            categorical,
            self.epsilon,
            self.plan_column,
            self.tenure_column,
        )
        model.info["background"] = None

        valid_eval = self._evaluate_part(
            model, valid, numeric, categorical, model_cfg, seed, truth=None, full=False
        )
        test_eval = self._evaluate_part(
            model, test, numeric, categorical, model_cfg, seed, truth=truth, full=True
        )
        metrics = test_eval["metrics"] | {
            f"valid_{k}": v
            for k, v in valid_eval["metrics"].items()
            if k.startswith("policy_value")
        }
        logging_metrics = test_eval["logging"]
        grade = self._grade(metrics)
        scored = test[["customer_id", "timestamp"]].assign(
            logged_action=np.asarray(catalog.actions, dtype=object)[test["action"].to_numpy()],
            recommended=np.asarray(catalog.actions, dtype=object)[test_eval["assignment"]],
            reward=test["reward"].to_numpy(),
            expected_recommended=test_eval["expected"][
                np.arange(len(test)), test_eval["assignment"]
            ],
        )
        tables = test_eval["tables"]
        values = tables["policy_values"]
        curves = test_eval["qini_curves"]
        drawings = {
            "policy_values": lambda ax: eval_plots.policy_values(values, HEADLINE_ESTIMATOR, ax),
            "offer_mix": lambda ax: eval_plots.offer_mix(tables["offer_mix"], ax),
        }
        if curves:
            drawings["qini"] = lambda ax: uplift_metrics.plot_qini(curves, ax=ax)
        if test_eval["uplift_curves"]:
            drawings["uplift_curve"] = lambda ax: uplift_metrics.plot_uplift_curve(
                test_eval["uplift_curves"], ax=ax
            )
        return TaskResult(
            metrics=metrics,
            baseline_metrics=logging_metrics,
            grade=grade,
            model=model,
            tables=tables,
            drawings=drawings,
            figure_size=(7, 4.5),
            explain_rows=test[[*numeric, *categorical, "customer_id"]],
            scored=scored,
            references=test_eval["references"],
            info={
                "best_static": test_eval["best_static"],
                "n_test_contacts": len(test),
                "n_train_contacts": len(train),
            },
        )

    def constraints(self, n_rows: int, catalog: OfferCatalog) -> pol.Constraints:
        """The campaign constraints for a batch of ``n_rows`` decisions."""
        return pol.Constraints.from_config(
            catalog.offer_ids,
            catalog.channel[: catalog.none_index],
            {
                "budget": self.budget,
                "capacity": self.capacity,
                "channel_limits": self.channel_limits,
            },
            n_rows=n_rows,
        )

    def _assign(self, value: np.ndarray, ok: np.ndarray, catalog: OfferCatalog) -> np.ndarray:
        return pol.optimal_assignment(
            value,
            ok,
            catalog.cost,
            catalog.channel,
            self.constraints(len(value), catalog),
            catalog.none_index,
        )

    def _ope_rewards(self, part, numeric, categorical, catalog, model_cfg, seed) -> np.ndarray:
        """Cross-fitted ``(n, K)`` reward estimates for DM and DR on these contacts (an
        S-learner fitted on the other folds, grouped by customer)."""
        X = part[[*numeric, *categorical]]
        action, outcome = part["action"].to_numpy(), part["outcome"].to_numpy(float)
        K = len(catalog.actions)

        def fit_predict(train_idx, score_idx):
            s = build_learner("s", model_cfg, numeric, categorical, K, seed)
            s.fit(X.iloc[train_idx], action[train_idx], outcome[train_idx])
            return expected_reward(s.predict(X.iloc[score_idx]), catalog, self.reward)

        return ope.cross_fit_rewards(
            fit_predict,
            int(self.ope["cv_folds"]),
            len(part),
            groups=part["customer_id"].to_numpy(),
            random_state=seed,
        )

    def _estimators(self) -> list:
        clip = self.ope.get("clip")
        return [
            ope.InverseProbabilityWeighting(clip=clip),
            ope.SelfNormalizedInverseProbabilityWeighting(clip=clip),
            ope.DirectMethod(),
            ope.DoublyRobust(clip=clip),
            ope.SwitchDoublyRobust(tau=float(self.ope["switch_tau"])),
            ope.DoublyRobustWithShrinkage(lambda_=float(self.ope["shrinkage_lambda"])),
        ]

    def _evaluate_part(
        self, model, part, numeric, categorical, model_cfg, seed, truth, full: bool
    ) -> dict:
        catalog = model.catalog
        X = part[[*numeric, *categorical]]
        expected = model.expected(X)
        ok = model.eligible(X)
        # the logged action was allowed when it was taken: eligibility at the contact
        assignment = self._assign(expected, ok, catalog)
        K = len(catalog.actions)
        learned = pol.one_hot(assignment, K)
        action, pscore, reward = (
            part["action"].to_numpy(),
            part["propensity"].to_numpy(float),
            part["reward"].to_numpy(float),
        )
        q = self._ope_rewards(part, numeric, categorical, catalog, model_cfg, seed)
        boot = dict(
            alpha=float(self.ope["alpha"]),
            n_bootstrap=int(self.ope["n_bootstrap"]),
            random_state=seed,
        )
        dr = ope.DoublyRobust(clip=self.ope.get("clip"))
        learned_terms = dr.round_rewards(
            reward=reward, action=action, pscore=pscore, action_dist=learned, estimated_rewards=q
        )
        interval = ope.bootstrap_interval(learned_terms, **boot)
        metrics = {
            "policy_value": float(learned_terms.mean()),
            "policy_value_lower": interval["lower"],
            "policy_value_upper": interval["upper"],
        }
        if not full:
            return {"metrics": metrics}

        policies: dict[str, np.ndarray] = {"learned": learned}
        for i, offer in enumerate(catalog.offer_ids):
            policies[f"static {offer}"] = pol.static_policy(i, ok, catalog.none_index)
        policies["no offer"] = pol.static_policy(catalog.none_index, ok, catalog.none_index)
        policies["random"] = pol.random_policy(ok, none_index=catalog.none_index)
        true = true_rewards(truth, part, catalog, self.reward) if truth is not None else None
        if true is not None:
            policies["oracle"] = pol.one_hot(self._assign(true, ok, catalog), K)

        rows = []
        terms = {}
        for name, dist in policies.items():
            table = ope.estimate_all(self._estimators(), reward, action, pscore, dist, q, **boot)
            table.insert(0, "policy", name)
            if true is not None:
                table["true_value"] = float((dist * true).sum(axis=1).mean())
            rows.append(table)
            terms[name] = dr.round_rewards(
                reward=reward, action=action, pscore=pscore, action_dist=dist, estimated_rewards=q
            )
        logging_interval = ope.bootstrap_interval(reward, **boot)
        logging_row = {
            "policy": "logging",
            "estimator": "on-policy",
            "value": float(reward.mean()),
            "lower": logging_interval["lower"],
            "upper": logging_interval["upper"],
            "ess": float(len(reward)),
        }
        values = pd.concat([*rows, pd.DataFrame([logging_row])], ignore_index=True)

        def dr_value(name: str) -> float:
            return float(terms[name].mean())

        statics = [n for n in policies if n.startswith("static ") or n == "no offer"]
        best_static = max(statics, key=dr_value)
        vs_logging = ope.paired_difference_interval(terms["learned"], reward, **boot)
        vs_static = ope.paired_difference_interval(terms["learned"], terms[best_static], **boot)
        learned_rows = values[values["policy"] == "learned"].set_index("estimator")
        metrics |= {
            f"policy_value_{e.replace('-', '_')}": float(learned_rows.loc[e, "value"])
            for e in learned_rows.index
        }
        metrics |= {
            "ess": float(learned_rows.loc["ipw", "ess"])
            if "ipw" in learned_rows.index
            else float("nan"),
            "logging_value": float(reward.mean()),
            "best_static_value": dr_value(best_static),
            "gain_vs_logging": vs_logging["mean"],
            "gain_vs_logging_lower": vs_logging["lower"],
            "gain_vs_logging_upper": vs_logging["upper"],
            "gain_vs_best_static": vs_static["mean"],
            "gain_vs_best_static_lower": vs_static["lower"],
            "gain_vs_best_static_upper": vs_static["upper"],
            "offer_share": float((assignment != catalog.none_index).mean()),
            "contacts": float(len(part)),
            "cost_per_contact": float(catalog.cost[assignment].mean()),
        }
        mix = pd.DataFrame(
            {
                "action": catalog.actions,
                "share": np.bincount(assignment, minlength=K) / len(assignment),
            }
        )
        metrics |= {
            f"offer_share_{a}": float(s) for a, s in zip(mix["action"], mix["share"], strict=True)
        }
        references = {
            "best_static": {"policy_value": dr_value(best_static)},
            "random": {"policy_value": dr_value("random")},
            "no_offer": {"policy_value": dr_value("no offer")},
        }
        if true is not None:
            true_of = {
                name: float((dist * true).sum(axis=1).mean()) for name, dist in policies.items()
            }
            metrics |= {
                "true_policy_value": true_of["learned"],
                "true_oracle_value": true_of["oracle"],
                "share_of_oracle": true_of["learned"] / true_of["oracle"]
                if true_of["oracle"]
                else float("nan"),
                "true_best_static_value": max(true_of[n] for n in statics),
                "dr_covers_truth": float(
                    metrics["policy_value_lower"]
                    <= true_of["learned"]
                    <= metrics["policy_value_upper"]
                ),
            }
            references["oracle"] = {
                "policy_value": dr_value("oracle"),
                "true_policy_value": true_of["oracle"],
            }
            references["best_static"]["true_policy_value"] = true_of[best_static]
            values["relative_error"] = (values["value"] - values["true_value"]).abs() / values[
                "true_value"
            ].abs()
        uplift_table, curves, uplift_curves = self._uplift(part, expected, catalog)
        if "qini_coefficient" in uplift_table:
            metrics["qini_mean"] = float(uplift_table["qini_coefficient"].mean())
            metrics |= {
                f"qini_{r.offer}": float(r.qini_coefficient) for r in uplift_table.itertuples()
            }
        logging_metrics = {
            "policy_value": float(reward.mean()),
            "policy_value_lower": logging_interval["lower"],
            "policy_value_upper": logging_interval["upper"],
        }
        return {
            "metrics": metrics,
            "logging": logging_metrics,
            "references": references,
            "assignment": assignment,
            "expected": expected,
            "best_static": best_static,
            "qini_curves": curves,
            "uplift_curves": uplift_curves,
            "tables": {
                "policy_values": values,
                # one row per policy (DR; logging on-policy): what DVC charts
                "policy_dr": values[
                    (values["estimator"] == HEADLINE_ESTIMATOR) | (values["policy"] == "logging")
                ],
                "offer_mix": mix,
                "uplift": uplift_table,
            },
        }

    def _uplift(
        self, part, expected: np.ndarray, catalog: OfferCatalog
    ) -> tuple[pd.DataFrame, dict]:
        """Per offer against no offer, on the contacts that got one or the other, ranked
        by the predicted uplift in reward: the Qini coefficient and uplift AUC of the
        response (binary: ``response`` if the rows have it) and the reward's uplift at
        10% and 30%; the Qini curves (response) and uplift curves (reward). The logging
        policy was not randomised: these are indicative."""
        action, reward = part["action"].to_numpy(), part["reward"].to_numpy(float)
        binary = part["response"].to_numpy(float) if "response" in part.columns else None
        if binary is None and set(np.unique(reward)) <= {0.0, 1.0}:
            binary = reward
        none = catalog.none_index
        rows, curves, uplift_curves = [], {}, {}
        for i, offer in enumerate(catalog.offer_ids):
            sel = (action == i) | (action == none)
            t = (action[sel] == i).astype(int)
            if t.sum() < 20 or (1 - t).sum() < 20:
                continue
            u = expected[sel, i] - expected[sel, none]
            row = {"offer": offer, "n_treated": int(t.sum()), "n_control": int((1 - t).sum())}
            if binary is not None:
                row["qini_coefficient"] = uplift_metrics.qini_auc_score(binary[sel], t, u)
                row["uplift_auc"] = uplift_metrics.uplift_auc_score(binary[sel], t, u)
                curves[offer] = uplift_metrics.qini_curve(binary[sel], t, u)
            row["uplift_at_10"] = uplift_metrics.uplift_at_k(reward[sel], t, u, k=0.1)
            row["uplift_at_30"] = uplift_metrics.uplift_at_k(reward[sel], t, u, k=0.3)
            uplift_curves[offer] = uplift_metrics.uplift_curve(reward[sel], t, u)
            rows.append(row)
        return pd.DataFrame(rows), curves, uplift_curves

    @staticmethod
    def _grade(metrics: Mapping[str, float]) -> str:
        """A: the learned policy beats the logging policy with the interval of the
        difference above zero and beats the best static policy (DR); B: above the
        logging policy; C: not."""
        if metrics["gain_vs_logging_lower"] > 0 and metrics["gain_vs_best_static"] > 0:
            return "A"
        return "B" if metrics["gain_vs_logging"] > 0 else "C"
