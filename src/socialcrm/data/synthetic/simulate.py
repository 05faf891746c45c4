"""Month-by-month life of every customer, vectorised over customers.

Each month, for every active customer:

1. the churn hazard is computed from the state entering the month:
   dissatisfaction, the latent satisfaction trait, the last three months'
   tickets and negative posts, tenure, price sensitivity, plan, referral and,
   when contagion is on, the number of social ties who churned in the last
   ``window_months``; hazards are scaled so that the share of active customers
   lost matches ``annual_rate`` (the truth panel holds exactly this hazard,
   knowable at the month start);
2. support tickets arrive (more when dissatisfied) until churn; badly handled
   tickets lower satisfaction, well handled ones raise it; shocks fade with
   ``satisfaction_memory``;
3. social account holders post; the share of negative posts and complaints
   rises with dissatisfaction and right after a bad ticket;
4. purchases follow a Poisson process with a customer-specific rate (gamma
   heterogeneity) until churn (buy till you die); amounts follow Gamma-Gamma;
5. from ``start_month`` on, a campaign contacts a share of customers; a
   non-uniform logging policy picks an offer (or none) from observable
   behaviour, and its propensity is recorded; an offer induces an extra
   purchase with a probability that depends on the customer's traits
   (heterogeneous effects); the logged response is any purchase within the
   response window.

With ``drift.start`` set, months starting on or after it change: tickets arrive
``ticket_rate_factor`` times as often and purchases cost ``spend_factor`` times
as much (:func:`drift_months`); the other draws are the same as without drift,
so the months before it are identical. Accounts a platform gains are added by
:func:`socialcrm.data.synthetic.graph.drift_accounts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from rich.progress import Progress

from socialcrm.data.synthetic.config import GeneratorConfig, OfferSpec
from socialcrm.data.synthetic.graph import Accounts
from socialcrm.data.synthetic.population import (
    CATEGORIES,
    PURCHASE_CHANNELS,
    Population,
    sigmoid,
)
from socialcrm.data.synthetic.text import NEGATIVE, NEUTRAL, POSITIVE, TOPICS

TICKET_CATEGORIES = ["billing", "delivery", "product", "technical", "account"]
TICKET_SHARES = np.array([0.22, 0.30, 0.22, 0.16, 0.10])
TICKET_MEDIAN_HOURS = np.array([20.0, 36.0, 48.0, 30.0, 12.0])
# Complaint topic most likely after a ticket of each category.
TICKET_TOPIC = np.array(
    [TOPICS.index(t) for t in ["billing", "delivery", "product", "app", "service"]]
)
TOPIC_SHARES = np.array([0.26, 0.16, 0.20, 0.16, 0.12, 0.10])
OFFER_TRAITS = ["price_sensitivity", "satisfaction", "social", "frequency", "value", "tenure"]
POLICY_FEATURES = ["recency", "frequency", "spend", "tenure", "tickets"]
OFFER_CHANNEL_TO_PURCHASE = {"email": "web", "sms": "app", "app_push": "app", "call": "phone"}


@dataclass
class Calendar:
    """Month boundaries in days since history start."""

    start: np.datetime64
    month_start: np.ndarray  # length months + 1
    month_of_year: np.ndarray

    @property
    def months(self) -> int:
        return len(self.month_start) - 1

    @property
    def total_days(self) -> float:
        return float(self.month_start[-1])


def calendar(start_date: str, months: int) -> Calendar:
    start = np.datetime64(start_date, "D")
    if np.datetime64(start, "M").astype("datetime64[D]") != start:
        raise ValueError(f"start_date must be the first day of a month, got {start_date}")
    bounds = (np.datetime64(start, "M") + np.arange(months + 1)).astype("datetime64[D]")
    month_start = (bounds - start).astype(np.float64)
    moy = (np.datetime64(start, "M").astype(int) + np.arange(months)) % 12
    return Calendar(start=start, month_start=month_start, month_of_year=moy)


@dataclass
class _Events:
    """Growing lists of per-event arrays, concatenated once at the end."""

    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, **cols: np.ndarray) -> None:
        for k, v in cols.items():
            self.parts.setdefault(k, []).append(v)

    def done(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) for k, v in self.parts.items()}


@dataclass
class History:
    """Everything that happened, as arrays of events (indices into customers/accounts)."""

    tickets: dict[str, np.ndarray]
    posts: dict[str, np.ndarray]
    transactions: dict[str, np.ndarray]
    offer_log: dict[str, np.ndarray]
    panel: dict[str, np.ndarray]
    churn_day: np.ndarray  # inf when the customer did not churn during the history
    offer_truth: dict[str, np.ndarray]  # per customer x action at baseline


def offer_matrices(catalog: list[OfferSpec], plans: list[str]) -> dict[str, np.ndarray]:
    """The catalog as arrays: effects, policy weights, eligibility."""
    k = len(catalog)
    eff = np.zeros((k, len(OFFER_TRAITS)))
    pol = np.zeros((k, len(POLICY_FEATURES)))
    plan_ok = np.ones((k, len(plans)), dtype=bool)
    for i, o in enumerate(catalog):
        for name, w in o.effects.items():
            if name not in OFFER_TRAITS:
                raise ValueError(
                    f"offer {o.offer_id}: unknown effect trait {name!r}; use {OFFER_TRAITS}"
                )
            eff[i, OFFER_TRAITS.index(name)] = w
        for name, w in o.policy.items():
            if name not in POLICY_FEATURES:
                raise ValueError(
                    f"offer {o.offer_id}: unknown policy feature {name!r}; use {POLICY_FEATURES}"
                )
            pol[i, POLICY_FEATURES.index(name)] = w
        if o.eligible_plans:
            allowed = set(o.eligible_plans.split("|"))
            unknown = allowed - set(plans)
            if unknown:
                raise ValueError(f"offer {o.offer_id}: unknown eligible plans {sorted(unknown)}")
            plan_ok[i] = [p in allowed for p in plans]
    return {
        "base": np.array([o.base for o in catalog]),
        "effects": eff,
        "policy": pol,
        "plan_ok": plan_ok,
        "min_tenure": np.array([o.min_tenure_days for o in catalog], dtype=float),
        "value": np.array([o.value for o in catalog]),
        "retains": np.array([o.retains for o in catalog]),
        "channel": np.array(
            [
                PURCHASE_CHANNELS.index(OFFER_CHANNEL_TO_PURCHASE.get(o.channel, "web"))
                for o in catalog
            ]
        ),
    }


def drift_months(start: str | None, cal: Calendar) -> np.ndarray:
    """Per month, whether it drifts: it starts on or after ``start`` (all False when None)."""
    if start is None:
        return np.zeros(cal.months, dtype=bool)
    start_day = float((np.datetime64(start, "D") - cal.start).astype(np.int64))
    return cal.month_start[:-1] >= start_day


def _z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-9)


def simulate(
    pop: Population,
    accounts: Accounts,
    adjacency: sp.csr_matrix,
    cfg: GeneratorConfig,
    cal: Calendar,
    rng: np.random.Generator,
    progress: Progress | None = None,
) -> History:
    """Run the monthly simulation of tickets, posts, churn, purchases and campaigns."""
    n = pop.n_customers
    sup, soc, pur, ch, off = cfg.support, cfg.social, cfg.purchases, cfg.churn, cfg.offers
    eff = ch.effects
    total_days = cal.total_days
    season = np.asarray(pur.seasonality, dtype=float)
    window = float(off.response_window_days)
    offers = offer_matrices(off.catalog, pop.plans)
    n_offers = len(off.catalog)
    drifting = drift_months(cfg.drift.start, cal)

    sat = pop.satisfaction[:n]
    price = pop.price_sensitivity[:n]
    social = pop.social[:n]
    lam = pop.purchase_rate
    spend = pop.mean_spend
    is_premium = np.array([p == "premium" for p in pop.plans])[pop.plan]
    is_referred = np.array([c == "referral" for c in pop.channels])[pop.acquisition]
    freq_z = _z(np.log(lam))
    value_z = _z(np.log(spend) + 0.5 * np.log(lam))

    # Accounts of each customer, for assigning posts (accounts are sorted by person).
    acc_start = np.searchsorted(accounts.person, np.arange(pop.n_persons)).astype(np.int64)
    acc_count = np.bincount(accounts.person, minlength=pop.n_persons).astype(np.int64)
    activity = rng.gamma(0.8, 1 / 0.8, size=pop.n_persons) * np.exp(0.8 * pop.social)
    holders = acc_count > 0
    post_rate = np.where(holders, soc.posts_per_month * activity / activity[holders].mean(), 0.0)

    # Sentiment intercepts: at a neutral state the shares equal the configured ones.
    base_neu = 1 - soc.base_negative - soc.base_positive
    a_neg = np.log(soc.base_negative / base_neu)
    a_pos = np.log(soc.base_positive / base_neu)

    p_target = 1 - (1 - ch.annual_rate) ** (1 / 12)  # monthly churn probability
    log_hr = np.log(ch.contagion.hazard_ratio) if ch.contagion.enabled else 0.0

    dev = rng.normal(0.0, 0.3, n)  # satisfaction state minus the customer's base
    tickets3 = np.zeros((n, 3), dtype=np.int16)
    bad3 = np.zeros((n, 3), dtype=np.int16)
    neg3 = np.zeros((n, 3), dtype=np.int16)
    count3 = np.zeros((n, 3), dtype=np.int16)
    spend3 = np.zeros((n, 3), dtype=np.float32)
    churn_day = np.full(n, np.inf)
    churn_month = np.full(n, -10_000, dtype=np.int32)
    retained_left = np.zeros(n, dtype=np.int8)
    last_purchase = np.minimum(pop.signup_day, 0.0) - rng.exponential(30.0 / np.maximum(lam, 0.05))

    tickets, posts, txns, logs, panel = _Events(), _Events(), _Events(), _Events(), _Events()
    task = progress.add_task("simulating months", total=cal.months) if progress else None

    for m in range(cal.months):
        t0, t1 = cal.month_start[m], cal.month_start[m + 1]
        dm = t1 - t0
        slot = m % 3
        active = (pop.signup_day < t1) & (churn_day > t0)
        idx = np.flatnonzero(active)
        a_start = np.maximum(t0, pop.signup_day[idx])
        frac = (t1 - a_start) / dm

        # 1. Churn hazard from the state entering the month (the last three months'
        #    tickets and posts, satisfaction so far, ties who churned recently),
        #    scaled to the target rate: what the truth knows at the month start.
        recent = (churn_month >= m - ch.contagion.window_months) & (churn_month < m)
        exposure = np.asarray(adjacency[idx] @ recent.astype(np.float32)).ravel()
        tenure_m = np.maximum(t0 - pop.signup_day[idx], 0.0) / 30.44
        eta = (
            eff.dissatisfaction * (-dev[idx])
            + eff.low_satisfaction * (-sat[idx])
            + eff.tickets_3m * tickets3[idx].sum(axis=1)
            + eff.bad_tickets_3m * bad3[idx].sum(axis=1)
            + eff.tenure * np.log1p(tenure_m)
            + eff.price_sensitivity * price[idx]
            + eff.negative_posts_3m * neg3[idx].sum(axis=1)
            + eff.premium_plan * is_premium[idx]
            + eff.referred * is_referred[idx]
            + log_hr * np.minimum(exposure, ch.contagion.cap)
            + off.retention_effect * (retained_left[idx] > 0)
        )
        peer = log_hr * np.minimum(exposure, ch.contagion.cap)
        rel = np.exp(np.clip(eta, -8.0, 6.0))
        full = frac >= 1.0  # the rate is defined on customers at risk all month
        hazard = rel * _rate_scale(rel[full], frac[full], p_target) if full.any() else rel * 0.0
        p_churn = 1.0 - np.exp(-hazard * frac)
        churns = rng.random(len(idx)) < p_churn
        c_idx = idx[churns]
        churn_day[c_idx] = a_start[churns] + rng.random(len(c_idx)) * (t1 - a_start[churns])
        churn_month[c_idx] = m

        # 2. Support tickets and their effect on satisfaction.
        # (tickets stop when the relationship ends; posts may go on to the month end)
        rel_end = np.minimum(t1, churn_day[idx])
        rate = sup.ticket_rate * np.exp(sup.dissatisfaction_effect * (-dev[idx]) - 0.3 * sat[idx])
        if drifting[m]:
            rate = rate * cfg.drift.ticket_rate_factor
        # multiplied only in drifting months: the undrifted world keeps its exact floats
        spend_m = spend * cfg.drift.spend_factor if drifting[m] else spend
        k = rng.poisson(rate * (rel_end - a_start) / dm)
        tc = np.repeat(idx, k)
        ts = np.repeat(a_start, k) + rng.random(len(tc)) * np.repeat(rel_end - a_start, k)
        tcat = rng.choice(len(TICKET_CATEGORIES), size=len(tc), p=TICKET_SHARES)
        res = rng.lognormal(np.log(TICKET_MEDIAN_HOURS[tcat]), 0.9) * np.exp(-0.15 * sat[tc])
        quality = 0.6 * (sat[tc] + dev[tc]) - 0.8 * np.log(res / 24.0) + rng.normal(0, 1, len(tc))
        csat = (np.digitize(quality, [-1.4, -0.5, 0.4, 1.3]) + 1).astype(np.int8)
        answered = rng.random(len(tc)) < 0.65
        resolved = ts + res / 24.0 < total_days
        tickets.add(
            customer=tc,
            day=ts,
            category=tcat.astype(np.int8),
            hours=np.where(resolved, res, np.nan),
            satisfaction=np.where(answered & resolved, csat, -1).astype(np.int8),
        )
        n_bad = np.bincount(tc, weights=(csat <= 2), minlength=n)
        n_good = np.bincount(tc, weights=(csat >= 4), minlength=n)
        n_tk = np.bincount(tc, minlength=n)
        dev[idx] = (
            sup.satisfaction_memory * dev[idx]
            - sup.bad_ticket_shock * n_bad[idx]
            + sup.good_ticket_lift * n_good[idx]
            + rng.normal(0.0, sup.satisfaction_noise, len(idx))
        )
        tickets3[:, slot] = n_tk
        bad3[:, slot] = n_bad
        # the category of each customer's last ticket this month, for complaint topics
        last_cat = np.full(n, -1, dtype=np.int64)
        last_cat[tc] = tcat

        # 3. Posts by customers who hold social accounts.
        kp = rng.poisson(post_rate[idx] * frac)
        pcust = np.repeat(idx, kp)
        p_start = np.repeat(a_start, kp)
        pday = p_start + rng.random(len(pcust)) * (t1 - p_start)
        recent_bad = n_bad[pcust] > 0
        state = dev[pcust] + 0.5 * sat[pcust]
        sentiment, topic, mention, noisy, figurative = _post_labels(
            state, recent_bad, last_cat[pcust], a_neg, a_pos, soc, rng, soc.brand_mention_share
        )
        acc = acc_start[pcust] + (rng.random(len(pcust)) * acc_count[pcust]).astype(np.int64)
        # A post needs its account: drop the few drawn before the account existed.
        ok = accounts.created_day[acc] <= pday
        pcust, sentiment = pcust[ok], sentiment[ok]
        posts.add(
            account=acc[ok].astype(np.int32),
            day=pday[ok],
            sentiment=sentiment,
            topic=topic[ok],
            mention=mention[ok],
            noisy=noisy[ok],
            figurative=figurative[ok],
        )
        neg3[:, slot] = np.bincount(pcust, weights=(sentiment == NEGATIVE), minlength=n)

        lam_t = lam[idx] * np.exp(pur.dissatisfaction_effect * np.clip(dev[idx], -3.0, 1.0))
        lam_t = lam_t * season[cal.month_of_year[m]]
        panel.add(
            customer=idx.astype(np.int32),
            month=np.full(len(idx), m, dtype=np.int16),
            hazard=hazard.astype(np.float32),
            base_hazard=(hazard / np.exp(peer)).astype(np.float32),
            churn_probability=p_churn.astype(np.float32),
            exposure=exposure.astype(np.int16),
            expected_spend=(lam_t * spend_m[idx]).astype(np.float32),
            purchase_rate=lam_t.astype(np.float32),
        )

        # 4. Purchases until churn.
        end = np.minimum(t1, churn_day[idx])
        length = np.maximum(end - a_start, 0.0)
        kt = rng.poisson(lam_t * length / dm)
        xc = np.repeat(idx, kt)
        x_start = np.repeat(a_start, kt)
        xday = x_start + rng.random(len(xc)) * np.repeat(length, kt)
        xamt = np.round(rng.gamma(pur.spend_p, spend_m[xc] / pur.spend_p), 2)
        xcat = _category(pop.favourite_category[xc], rng)
        xch = np.where(
            rng.random(len(xc)) < 0.6,
            pop.preferred_channel[xc],
            rng.integers(0, len(PURCHASE_CHANNELS), size=len(xc)),
        ).astype(np.int8)

        # 5. Campaign: the logging policy, offer effects, responses.
        if m >= off.start_month and n_offers:
            cand = idx[(a_start == t0)]
            cand = cand[rng.random(len(cand)) < off.contact_rate]
            cday = t0 + rng.random(len(cand)) * (dm - window)
            keep = churn_day[cand] > cday
            cand, cday = cand[keep], cday[keep]
            if len(cand):
                log, induced = _campaign(
                    cand,
                    cday,
                    pop,
                    offers,
                    off,
                    tickets3,
                    count3,
                    spend3,
                    last_purchase,
                    sat,
                    price,
                    social,
                    freq_z,
                    value_z,
                    churn_day,
                    rng,
                )
                # Responses: any purchase (organic or induced) in the window.
                all_c = np.r_[xc, induced["customer"]]
                all_d = np.r_[xday, induced["day"]]
                all_a = np.r_[xamt, induced["amount"]]
                contact = np.full(n, np.nan)
                contact[cand] = cday
                cd = contact[all_c]
                in_win = (all_d >= cd) & (all_d < cd + window)
                revenue = np.bincount(all_c[in_win], weights=all_a[in_win], minlength=n)[cand]
                responded = np.bincount(all_c[in_win], minlength=n)[cand] > 0
                truth = _contact_truth(
                    log,
                    cand,
                    cday,
                    idx,
                    lam_t,
                    spend_m,
                    pop.mean_spend,
                    offers["value"],
                    np.minimum(t1, churn_day[cand]),
                    window,
                    dm,
                    n,
                )
                logs.add(
                    customer=cand.astype(np.int32),
                    day=cday,
                    action=log["action"],
                    propensity=log["propensity"],
                    response=responded,
                    revenue=revenue,
                    accepted=log["accepted"],
                    p_true=log["p_true"],
                    **truth,
                )
                retained_left[cand[log["retained"]]] = 4  # 3 full months after this one
                xc = np.r_[xc, induced["customer"]]
                xday = np.r_[xday, induced["day"]]
                xamt = np.r_[xamt, induced["amount"]]
                xcat = np.r_[xcat, _category(pop.favourite_category[induced["customer"]], rng)]
                xch = np.r_[xch, offers["channel"][induced["offer"]].astype(np.int8)]

        txns.add(customer=xc.astype(np.int32), day=xday, amount=xamt, category=xcat, channel=xch)
        count3[:, slot] = np.bincount(xc, minlength=n)
        spend3[:, slot] = np.bincount(xc, weights=xamt, minlength=n)
        np.maximum.at(last_purchase, xc, xday)
        retained_left[idx] = np.maximum(retained_left[idx] - 1, 0)
        if progress is not None and task is not None:
            progress.advance(task)

    tx = txns.done()
    tx = _add_returns(tx, price, pur.return_rate, total_days, rng)
    return History(
        tickets=tickets.done(),
        posts=posts.done(),
        transactions=tx,
        offer_log=logs.done() if logs.parts else {},
        panel=panel.done(),
        churn_day=churn_day,
        offer_truth=_offer_truth(pop, offers, window, sat, price, social, freq_z, value_z, cal),
    )


def _rate_scale(rel: np.ndarray, frac: np.ndarray, p_target: float) -> float:
    """Scale ``s`` with ``sum(1 - exp(-s * rel * frac)) == p_target * sum(frac)`` (Newton).

    This holds the expected share of active customers who churn in a month at
    the configured rate whatever the mix of risks (and whether contagion is on).
    """
    goal = p_target * frac.sum()
    w = rel * frac
    s = -np.log(1 - p_target) / max(np.sum(w) / frac.sum(), 1e-12)
    for _ in range(30):
        e = np.exp(-s * w)
        f = np.sum(1 - e) - goal
        step = f / max(np.sum(w * e), 1e-12)
        s = max(s - step, 1e-12)
        if abs(step) < 1e-12 * s:
            break
    return s


def _category(fav: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    other = rng.integers(0, len(CATEGORIES), size=len(fav))
    return np.where(rng.random(len(fav)) < 0.55, fav, other).astype(np.int8)


def _post_labels(
    state: np.ndarray,
    recent_bad: np.ndarray,
    ticket_cat: np.ndarray,
    a_neg: float,
    a_pos: float,
    soc,
    rng: np.random.Generator,
    mention_share: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """True sentiment, complaint topic, brand mention, noise and figurative flags of each post."""
    k = len(state)
    l_neg = a_neg - soc.negative_slope * state + 0.9 * recent_bad
    l_pos = a_pos + 0.8 * soc.negative_slope * state - 0.5 * recent_bad
    mx = np.maximum(np.maximum(l_neg, l_pos), 0.0)
    e_neg, e_pos, e_neu = np.exp(l_neg - mx), np.exp(l_pos - mx), np.exp(-mx)
    total = e_neg + e_pos + e_neu
    u = rng.random(k)
    sentiment = np.where(
        u < e_neg / total, NEGATIVE, np.where(u < (e_neg + e_pos) / total, POSITIVE, NEUTRAL)
    ).astype(np.int8)
    neg = sentiment == NEGATIVE
    p_complaint = np.where(recent_bad, 0.9, soc.complaint_share)
    complaint = neg & (rng.random(k) < p_complaint)
    random_topic = rng.choice(len(TOPICS), size=k, p=TOPIC_SHARES)
    from_ticket = (ticket_cat >= 0) & (rng.random(k) < 0.75)
    topic = np.where(from_ticket, TICKET_TOPIC[np.maximum(ticket_cat, 0)], random_topic)
    topic = np.where(complaint, topic, -1).astype(np.int8)
    mention = np.where(complaint, rng.random(k) < 0.9, rng.random(k) < mention_share)
    u = rng.random(k)
    noisy = u < soc.label_noise
    figurative = ~noisy & (sentiment != NEUTRAL) & (u < soc.label_noise + soc.figurative_share)
    return sentiment, topic, mention, noisy, figurative


def _offer_traits(
    c: np.ndarray,
    tenure_days: np.ndarray,
    sat: np.ndarray,
    price: np.ndarray,
    social: np.ndarray,
    freq_z: np.ndarray,
    value_z: np.ndarray,
) -> np.ndarray:
    tenure_z = (np.log1p(np.maximum(tenure_days, 0) / 365.25) - 0.7) / 0.5
    return np.column_stack([price[c], sat[c], social[c], freq_z[c], value_z[c], tenure_z])


def _campaign(
    cand: np.ndarray,
    cday: np.ndarray,
    pop: Population,
    offers: dict[str, np.ndarray],
    off,
    tickets3: np.ndarray,
    count3: np.ndarray,
    spend3: np.ndarray,
    last_purchase: np.ndarray,
    sat: np.ndarray,
    price: np.ndarray,
    social: np.ndarray,
    freq_z: np.ndarray,
    value_z: np.ndarray,
    churn_day: np.ndarray,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Choose actions with the logging policy and draw offer-induced purchases."""
    k = len(cand)
    n_off = len(offers["base"])
    tenure_days = cday - pop.signup_day[cand]
    # Observable behaviour the logging policy looks at (standardised within the campaign).
    feats = np.column_stack(
        [
            _z(np.log1p(np.maximum(cday - last_purchase[cand], 0.0))),
            _z(np.log1p(count3[cand].sum(axis=1))),
            _z(np.log1p(spend3[cand].sum(axis=1))),
            _z(np.log1p(np.maximum(tenure_days, 0.0))),
            tickets3[cand].sum(axis=1).astype(float),
        ]
    )
    eligible = offers["plan_ok"][:, pop.plan[cand]].T & (
        tenure_days[:, None] >= offers["min_tenure"]
    )
    scores = np.column_stack(
        [feats @ offers["policy"].T, np.full(k, np.log(max(off.no_offer_weight, 1e-9)))]
    )
    allowed = np.column_stack([eligible, np.ones(k, dtype=bool)])
    z = np.where(allowed, scores / off.policy_temperature, -np.inf)
    z -= z.max(axis=1, keepdims=True)
    probs = np.exp(z) * allowed
    probs /= probs.sum(axis=1, keepdims=True)
    # Mix in 10% uniform exploration: every allowed action keeps a propensity > 0.
    n_allowed = allowed.sum(axis=1, keepdims=True)
    probs = 0.9 * probs + 0.1 * allowed / n_allowed
    cum = np.cumsum(probs, axis=1)
    choice = np.minimum((rng.random((k, 1)) > cum).sum(axis=1), n_off)
    choice = np.where(allowed[np.arange(k), choice], choice, n_off)
    propensity = probs[np.arange(k), choice]

    traits = _offer_traits(cand, tenure_days, sat, price, social, freq_z, value_z)
    is_offer = choice < n_off
    o = np.minimum(choice, n_off - 1)
    uplift = sigmoid(offers["base"][o] + np.sum(offers["effects"][o] * traits, axis=1))
    uplift = np.where(is_offer, uplift, 0.0)
    accepted = rng.random(k) < uplift
    lag_cap = off.response_window_days - 0.01
    iday = cday + np.minimum(rng.exponential(2.0, size=k), lag_cap)
    made = accepted & (iday < churn_day[cand])
    # The truth of every action at this contact (no draws): each offer's acceptance
    # probability and the chance its purchase lands before the customer churns.
    to_churn = churn_day[cand] - cday
    p_made = np.where(to_churn > lag_cap, 1.0, 1.0 - np.exp(-np.maximum(to_churn, 0.0) / 2.0))
    uplift_all = sigmoid(offers["base"][None, :] + traits @ offers["effects"].T)
    ic = cand[made]
    amount = np.round(rng.gamma(4.0, pop.mean_spend[ic] / 4.0) * offers["value"][o[made]], 2)
    action = np.where(is_offer, choice, -1).astype(np.int16)
    return (
        {
            "action": action,
            "propensity": propensity,
            "accepted": made,
            "retained": made & offers["retains"][o],
            "p_true": uplift,
            "uplift_all": uplift_all,
            "p_made": p_made,
            "eligible": eligible,
        },
        {"customer": ic, "day": iday[made], "amount": amount, "offer": o[made]},
    )


def _contact_truth(
    log: dict[str, np.ndarray],
    cand: np.ndarray,
    cday: np.ndarray,
    idx: np.ndarray,
    lam_t: np.ndarray,
    spend: np.ndarray,
    mean_spend: np.ndarray,
    value: np.ndarray,
    end: np.ndarray,
    window: float,
    dm: float,
    n: int,
) -> dict[str, np.ndarray]:
    """Expected response and revenue in the response window of every action (each offer,
    then no offer) at each contact, from the state the simulation used at that moment:
    this month's purchase rate (seasonality and satisfaction included) until churn, and
    each offer's acceptance probability times the chance its purchase lands before churn.
    The same expectation the logged response and revenue are draws of."""
    rate = np.zeros(n)
    rate[idx] = lam_t
    covered = np.clip(np.minimum(cday + window, end) - cday, 0.0, None)
    organic_n = rate[cand] * covered / dm
    organic = organic_n * spend[cand]
    made = log["uplift_all"] * log["p_made"][:, None]
    induced = made * (mean_spend[cand][:, None] * value[None, :])
    none_p = 1.0 - np.exp(-organic_n)
    return {
        "expected_revenue": np.column_stack([organic[:, None] + induced, organic]),
        "p_response": np.column_stack([1.0 - (1.0 - none_p)[:, None] * (1.0 - made), none_p]),
        "eligible_all": np.column_stack([log["eligible"], np.ones(len(cand), dtype=bool)]),
    }


def _offer_truth(
    pop: Population,
    offers: dict[str, np.ndarray],
    window: float,
    sat: np.ndarray,
    price: np.ndarray,
    social: np.ndarray,
    freq_z: np.ndarray,
    value_z: np.ndarray,
    cal: Calendar,
) -> dict[str, np.ndarray]:
    """True response probability and expected revenue of every action for every customer.

    Evaluated at the customer's baseline (base purchase rate, tenure at the end of
    the history, no seasonality): ``p(no offer) = 1 - exp(-rate * window)`` and
    ``p(offer) = 1 - (1 - p(no offer)) * (1 - uplift)``.
    """
    n = pop.n_customers
    c = np.arange(n)
    tenure_days = cal.total_days - pop.signup_day
    traits = _offer_traits(c, tenure_days, sat, price, social, freq_z, value_z)
    organic_n = pop.purchase_rate * window / 30.44
    p0 = 1 - np.exp(-organic_n)
    uplift = sigmoid(offers["base"][None, :] + traits @ offers["effects"].T)
    eligible = offers["plan_ok"][:, pop.plan].T & (tenure_days[:, None] >= offers["min_tenure"])
    p = 1 - (1 - p0[:, None]) * (1 - uplift)
    rev = organic_n[:, None] * pop.mean_spend[:, None] + uplift * (
        pop.mean_spend[:, None] * offers["value"][None, :]
    )
    k = len(offers["base"])
    return {
        "customer": np.repeat(c, k + 1),
        "action": np.tile(np.r_[np.arange(k), -1], n).astype(np.int16),
        "eligible": np.column_stack([eligible, np.ones(n, dtype=bool)]).ravel(),
        "p_response": np.column_stack([p, p0]).ravel(),
        "uplift": np.column_stack([uplift, np.zeros(n)]).ravel(),
        "expected_revenue": np.column_stack([rev, organic_n * pop.mean_spend]).ravel(),
    }


def _add_returns(
    tx: dict[str, np.ndarray],
    price: np.ndarray,
    return_rate: float,
    total_days: float,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Some purchases come back later as negative amounts flagged as returns."""
    c = tx["customer"]
    p = return_rate * np.clip(1 + 0.4 * price[c], 0.3, 2.0)
    ret = rng.random(len(c)) < p
    rday = tx["day"][ret] + rng.uniform(2.0, 30.0, size=ret.sum())
    ok = rday < total_days
    sel = np.flatnonzero(ret)[ok]
    share = np.where(rng.random(len(sel)) < 0.7, 1.0, rng.uniform(0.3, 1.0, len(sel)))
    out = {k: np.r_[v, v[sel]] for k, v in tx.items()}
    out["day"][len(c) :] = rday[ok]
    out["amount"][len(c) :] = -np.round(tx["amount"][sel] * share, 2)
    out["is_return"] = np.r_[np.zeros(len(c), dtype=bool), np.ones(len(sel), dtype=bool)]
    # A return of an amount that rounds to 0.00 is not a return.
    zero = out["is_return"] & (out["amount"] == 0)
    return {k: v[~zero] for k, v in out.items()}


def latent_posts(
    pop: Population,
    accounts: Accounts,
    cfg: GeneratorConfig,
    total_days: float,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Posts by latent customers: people who talk about the brand but never bought.

    Their sentiment comes from their satisfaction trait alone (no tickets, no
    dynamics), and most of their posts name the brand.
    """
    soc = cfg.social
    n = pop.n_customers
    on_acc = accounts.person >= n
    acc_rows = np.flatnonzero(on_acc)
    person = accounts.person[acc_rows]
    activity = rng.gamma(0.8, 1 / 0.8, size=len(acc_rows)) * np.exp(0.8 * pop.social[person])
    # Per account; a person's accounts share the person's overall posting rate.
    per_person = np.bincount(person, minlength=pop.n_persons)[person]
    rate = soc.posts_per_month * activity / activity.mean() / np.sqrt(per_person)
    start = np.maximum(accounts.created_day[acc_rows], 0.0)
    months = (total_days - start) / 30.44
    k = rng.poisson(rate * months)
    acc = np.repeat(acc_rows, k)
    p_start = np.repeat(start, k)
    day = p_start + rng.random(len(acc)) * (total_days - p_start)
    state = 0.5 * pop.satisfaction[accounts.person[acc]] + rng.normal(0.0, 0.3, len(acc))
    base_neu = 1 - soc.base_negative - soc.base_positive
    sentiment, topic, mention, noisy, figurative = _post_labels(
        state,
        np.zeros(len(acc), dtype=bool),
        np.full(len(acc), -1),
        np.log(soc.base_negative / base_neu),
        np.log(soc.base_positive / base_neu),
        soc,
        rng,
        min(1.0, soc.brand_mention_share + 0.3),
    )
    return {
        "account": acc.astype(np.int32),
        "day": day,
        "sentiment": sentiment,
        "topic": topic,
        "mention": mention,
        "noisy": noisy,
        "figurative": figurative,
    }
