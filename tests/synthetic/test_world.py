"""The synthetic world meets its configuration and behaves like the domain says."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pandas as pd
import pytest
from omegaconf.errors import ConfigKeyError
from rich.console import Console

from socialcrm.config import compose
from socialcrm.data.generate import run_generate, write_synthetic
from socialcrm.data.schemas import TABLES
from socialcrm.data.synthetic.config import generator_config
from socialcrm.identity import IdentityMismatchError

pytestmark = pytest.mark.xdist_group("worlds")


def _digests(root) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.parquet"))
    }


def _churn_panel(w) -> pd.DataFrame:
    """Customer-months at risk with the realised churn event of that month."""
    cm = w["truth/customer_month"]
    months = np.sort(cm.month_start.unique())
    cm = cm.assign(m=np.searchsorted(months, cm.month_start))
    cm = cm.merge(w["truth/customers"][["customer_id", "churn_month"]], on="customer_id")
    cm = cm.merge(w["customers"][["customer_id", "signup_date"]], on="customer_id")
    return cm.assign(event=cm.churn_month == cm.m, exposed=cm.exposure > 0)


def _mantel_haenszel_rate_ratio(panel: pd.DataFrame, strata: int = 10) -> float:
    """Churn rate ratio exposed vs unexposed within strata of the hazard without the
    peer effect: what is left once homophily (similar people churn alike) is held fixed."""
    s = pd.qcut(panel.base_hazard, strata, labels=False, duplicates="drop")
    num = den = 0.0
    for _, g in panel.groupby(s):
        n = len(g)
        a = g.event[g.exposed].sum()
        n1 = g.exposed.sum()
        c = g.event[~g.exposed].sum()
        n0 = n - n1
        num += a * n0 / n
        den += c * n1 / n
    return num / den


def test_same_config_and_seed_give_byte_identical_tables(tmp_path):
    cfg = compose(["data=synthetic_small", "data.generator.n_customers=300"])
    write_synthetic(cfg.data.generator, tmp_path / "a", cfg.data.salt)
    write_synthetic(cfg.data.generator, tmp_path / "b", cfg.data.salt)
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert len(a) == 9 + 9  # canonical tables + truth tables
    assert a == b
    other = compose(["data=synthetic_small", "data.generator.n_customers=300", "seed=7"])
    write_synthetic(other.data.generator, tmp_path / "c", other.data.salt)
    assert _digests(tmp_path / "c")["transactions.parquet"] != a["transactions.parquet"]


def _generate(tmp_path, *overrides: str) -> tuple[dict, str]:
    """run_generate of a 300-customer world under ``tmp_path``: the manifest and the console."""
    cfg = compose(
        [
            "data=synthetic_small",
            f"paths.root_dir={tmp_path}",
            "data.generator.n_customers=300",
            *overrides,
        ]
    )
    out = io.StringIO()
    run_generate(cfg, Console(file=out, width=200))
    manifest = tmp_path / "data/raw/synthetic_small/_manifest.json"
    return json.loads(manifest.read_text()), out.getvalue()


def test_another_seed_regenerates_the_world_in_raw_dir(tmp_path):
    first, _ = _generate(tmp_path, "seed=1")
    assert first["generator"]["seed"] == 1
    second, said = _generate(tmp_path, "seed=2")
    assert second["generator"]["seed"] == 2
    assert "generator.seed 1 -> 2" in said and "regenerating" in said
    assert second["identity_sha256"] != first["identity_sha256"]
    assert second["sha256"]["transactions.parquet"] != first["sha256"]["transactions.parquet"]


def test_on_mismatch_error_keeps_the_other_world(tmp_path):
    first, _ = _generate(tmp_path, "seed=1")
    with pytest.raises(IdentityMismatchError, match=r"generator\.seed 1 -> 2"):
        _generate(tmp_path, "seed=2", "data.on_mismatch=error")
    with pytest.raises(IdentityMismatchError, match=r"generator\.n_customers 300 -> 400"):
        _generate(tmp_path, "seed=1", "data.generator.n_customers=400", "data.on_mismatch=error")
    kept, _ = _generate(tmp_path, "seed=1", "data.on_mismatch=error")
    assert kept == first


def test_the_same_world_twice_is_generated_once(tmp_path):
    first, _ = _generate(tmp_path, "seed=1")
    raw = tmp_path / "data/raw/synthetic_small"
    stamps = {p: p.stat().st_mtime_ns for p in raw.rglob("*")}
    second, said = _generate(tmp_path, "seed=1")
    assert "generation skipped" in said
    assert second == first
    assert {p: p.stat().st_mtime_ns for p in raw.rglob("*")} == stamps


def test_a_damaged_or_unmarked_world_is_regenerated(tmp_path):
    first, _ = _generate(tmp_path, "seed=1")
    raw = tmp_path / "data/raw/synthetic_small"
    (raw / "posts.parquet").unlink()
    again, said = _generate(tmp_path, "seed=1", "data.on_mismatch=error")
    assert "missing or changed" in said and again == first
    # a manifest without an identity (written before identities were recorded) differs
    old = {k: v for k, v in first.items() if k not in ("identity_sha256", "code_sha256")}
    (raw / "_manifest.json").write_text(json.dumps(old))
    with pytest.raises(IdentityMismatchError, match="code_sha256"):
        _generate(tmp_path, "seed=1", "data.on_mismatch=error")
    assert _generate(tmp_path, "seed=1")[0] == first


def test_writes_every_canonical_table_with_the_canonical_columns(small_world):
    for name, spec in TABLES.items():
        df = small_world[name]
        assert list(df.columns) == spec.column_names, name
        assert len(df) > 0, name


def test_sizes_follow_the_presets(small_world, world):
    assert len(small_world["customers"]) == 2000
    assert len(world["customers"]) == 20000
    assert compose(["data=synthetic_large"]).data.generator.n_customers == 1_000_000


def test_platform_shares_match_the_config(world):
    acc = world["social_accounts"].dropna(subset=["customer_id"])
    n = len(world["customers"])
    for platform, spec in world.generator.platforms.items():
        share = acc.loc[acc.platform == platform, "customer_id"].nunique() / n
        assert share == pytest.approx(spec.share, abs=0.02), platform


def test_platform_use_differs_by_age_band(world):
    acc = world["social_accounts"].dropna(subset=["customer_id"])
    cust = world["customers"].set_index("customer_id")
    tiktok = set(acc.customer_id[acc.platform == "tiktok"])
    facebook = set(acc.customer_id[acc.platform == "facebook"])
    by_age = (
        cust.assign(tiktok=cust.index.isin(tiktok), facebook=cust.index.isin(facebook))
        .groupby("age_band")[["tiktok", "facebook"]]
        .mean()
    )
    assert by_age.loc["18-24", "tiktok"] > 2 * by_age.loc["65+", "tiktok"]
    assert by_age.loc["65+", "facebook"] > by_age.loc["18-24", "facebook"]


def test_consent_share_matches_the_config(world):
    share = world["customers"].consent_social.mean()
    assert share == pytest.approx(world.generator.population.consent_share, abs=0.015)
    assert 0 < share < 1  # some customers withheld consent


def test_churn_rate_matches_the_config(world):
    panel = _churn_panel(world)
    full_month = panel[panel.signup_date <= panel.month_start]
    annual = 1 - (1 - full_month.event.mean()) ** 12
    assert annual == pytest.approx(world.generator.churn.annual_rate, abs=0.025)
    # the truth's churn probabilities are calibrated against realised churn
    assert panel.event.sum() == pytest.approx(panel.churn_probability.sum(), rel=0.05)


def test_churn_is_contagious_when_switched_on(world):
    panel = _churn_panel(world)
    raw = panel.groupby("exposed").event.mean()
    assert raw[True] > 1.6 * raw[False]
    hr = world.generator.churn.contagion.hazard_ratio
    assert _mantel_haenszel_rate_ratio(panel) == pytest.approx(hr, rel=0.3)


def test_no_contagion_when_switched_off(world, world_no_contagion):
    panel = _churn_panel(world_no_contagion)
    assert (panel.hazard == panel.base_hazard).all()
    # homophily alone makes exposed customers churn a little more ...
    raw = panel.groupby("exposed").event.mean()
    assert raw[True] / raw[False] < 1.4
    # ... but not once the customers' own risk is held fixed
    assert 0.75 < _mantel_haenszel_rate_ratio(panel) < 1.25
    # the negative control changes churn only: same people, accounts and ties
    pd.testing.assert_frame_equal(world["social_accounts"], world_no_contagion["social_accounts"])
    pd.testing.assert_frame_equal(world["truth/ties"], world_no_contagion["truth/ties"])


def test_churn_depends_on_satisfaction_tickets_price_and_negative_posts(world):
    cust = world["truth/customers"].merge(
        world["truth/persons"].drop(columns=["customer_id"]), on="person_id"
    )
    churned = cust.churned
    assert cust.satisfaction[churned].mean() < cust.satisfaction[~churned].mean() - 0.15
    assert cust.price_sensitivity[churned].mean() > cust.price_sensitivity[~churned].mean() + 0.1
    tickets = world["support_tickets"].groupby("customer_id").size()
    per_cust = cust.set_index("customer_id").assign(tickets=tickets).fillna({"tickets": 0})
    lifetime = world["truth/customer_month"].groupby("customer_id").size()
    rate = per_cust.tickets / lifetime.reindex(per_cust.index)
    assert rate[per_cust.churned].mean() > 1.2 * rate[~per_cust.churned].mean()


def test_social_graph_has_communities_and_homophily(world):
    ties, persons = world["truth/ties"], world["truth/persons"].set_index("person_id")
    a, b = persons.loc[ties.person_a], persons.loc[ties.person_b]
    within = (a.community_id.to_numpy() == b.community_id.to_numpy()).mean()
    assert within > 0.6
    corr = np.corrcoef(a.satisfaction.to_numpy(), b.satisfaction.to_numpy())[0, 1]
    assert corr > 0.25
    degree = pd.concat([ties.person_a, ties.person_b]).value_counts()
    assert degree.max() > 4 * degree.mean()  # heavy-tailed


def test_purchases_stop_at_churn_and_spend_is_heavy_tailed(world):
    tx = world["transactions"]
    truth = world["truth/customers"].set_index("customer_id")
    buys = tx[~tx.is_return]
    last = buys.groupby("customer_id").timestamp.max()
    churn_ts = truth.churn_timestamp.reindex(last.index)
    assert (last[churn_ts.notna()] <= churn_ts.dropna()).all()
    spend = buys.groupby("customer_id").amount.sum().sort_values(ascending=False)
    assert spend.head(len(spend) // 10).sum() / spend.sum() > 0.35
    assert (tx.amount[tx.is_return] < 0).all() and (tx.amount[~tx.is_return] >= 0).all()


def test_contract_churners_close_their_contract(world):
    cust = world["customers"].merge(world["truth/customers"], on="customer_id")
    contract = cust.plan.isin(list(world.generator.churn.contract_plans))
    assert (cust.closed_at.notna() == (contract & cust.churned)).all()
    assert (cust.closed_at.dropna() == cust.churn_timestamp[cust.closed_at.notna()]).all()


def test_offer_log_is_a_non_uniform_logged_policy_with_support(world):
    log = world["offer_log"]
    assert log.propensity.between(0.01, 1).all()
    assert log.propensity.std() > 0.03
    assert 0.05 < log.offer_id.isna().mean() < 0.5  # a no-offer control group exists
    # the policy depends on behaviour: recency-driven offers go to lapsing customers
    counts = log.offer_id.fillna("none").value_counts(normalize=True)
    assert counts.max() < 0.5 and len(counts) == len(world["offers"]) + 1


def test_offer_effects_are_heterogeneous(world):
    truth = world["truth/offer_response"]
    persons = world["truth/persons"].dropna(subset=["customer_id"])
    disc = truth[truth.offer_id == "OF-DISC25"].merge(persons, on="customer_id")
    retain = truth[truth.offer_id == "OF-RETAIN"].merge(persons, on="customer_id")
    assert np.corrcoef(disc.uplift, disc.price_sensitivity)[0, 1] > 0.5
    assert np.corrcoef(retain.uplift, retain.satisfaction)[0, 1] < -0.5
    none = truth[truth.offer_id.isna()]
    assert (none.uplift == 0).all()
    # the logged responses agree with the true response probabilities
    log = world["offer_log"].merge(world["truth/offer_log"], on="log_id")
    offered = log[log.offer_id.notna()]
    assert offered.response[offered.accepted].all()
    assert offered.accepted.mean() == pytest.approx(offered.uplift.mean(), abs=0.01)


def test_every_action_has_a_true_expected_outcome_at_each_contact(world):
    """truth/offer_contact holds, per logged contact, each action's expected revenue and
    response probability at that moment: the logged outcomes are draws of it, so their
    means agree within sampling error (policy values on synthetic data rest on this)."""
    truth = world["truth/offer_contact"]
    log = world["offer_log"]
    assert len(truth) == len(log) * (len(world["offers"]) + 1)
    logged = log.assign(offer_id=log.offer_id.fillna("none")).merge(
        truth.assign(offer_id=truth.offer_id.fillna("none")), on=["log_id", "offer_id"]
    )
    assert len(logged) == len(log) and logged.eligible.all()
    for _, part in logged.groupby("offer_id"):
        se = part.revenue.std() / np.sqrt(len(part))
        assert abs(part.revenue.mean() - part.expected_revenue.mean()) < 4 * se
        se_r = np.sqrt(part.p_response.mean() * (1 - part.p_response.mean()) / len(part))
        assert abs(part.response.mean() - part.p_response.mean()) < 4 * se_r
    # no offer: no uplift; an offer never lowers the expected revenue
    wide = truth.assign(offer_id=truth.offer_id.fillna("none")).pivot(
        index="log_id", columns="offer_id", values="expected_revenue"
    )
    assert (wide.drop(columns="none").sub(wide["none"], axis=0) >= 0).all().all()


def test_posts_carry_sentiment_in_varied_words(world):
    posts = world["posts"].merge(world["truth/posts"], on="post_id")
    assert posts.text.nunique() > 0.3 * len(posts)
    shares = posts.sentiment.value_counts(normalize=True)
    assert 0.1 < shares["negative"] < 0.35 and 0.2 < shares["positive"] < 0.55
    social = world.generator.social
    assert posts.misleading_words.mean() == pytest.approx(social.label_noise, abs=0.01)
    opinionated = posts.sentiment != "neutral"
    assert posts.figurative[opinionated].mean() == pytest.approx(social.figurative_share, abs=0.01)
    assert not (posts.figurative & posts.misleading_words).any()
    complaints = posts[posts.complaint]
    assert (complaints.sentiment == "negative").all()
    assert complaints.topic.nunique() == 6
    # no single word decides the label: even a strong cue appears on other labels
    has_love = posts.text.str.contains(r"\blove\b", case=False)
    assert (posts.sentiment[has_love] != "positive").sum() > 0
    # valid UTF-8 with emoji
    assert posts.text.str.contains("😡|😍|🙄").any()


def test_negative_posts_precede_churn(world):
    posts = world["posts"].merge(world["truth/posts"], on="post_id")
    acc = world["social_accounts"].dropna(subset=["customer_id"])
    posts = posts.merge(acc[["account_id", "customer_id"]], on="account_id")
    truth = world["truth/customers"].set_index("customer_id")
    posts["churned"] = truth.churned.reindex(posts.customer_id).to_numpy()
    neg = posts.groupby("churned").sentiment.apply(lambda s: (s == "negative").mean())
    assert neg[True] > 1.3 * neg[False]


def test_latent_customers_follow_the_brand_but_never_bought(world):
    acc = world["social_accounts"]
    latent = acc[acc.customer_id.isna()]
    assert len(latent) > 0
    assert latent.follows_brand.mean() > acc.follows_brand[acc.customer_id.notna()].mean()
    persons = world["truth/persons"]
    assert persons.customer_id.isna().sum() == round(
        world.generator.latent_per_customer * world.generator.n_customers
    )


def test_referrals_come_from_earlier_customers_among_ties(world):
    ref = world["referrals"]
    cust = world["customers"].set_index("customer_id")
    assert len(ref) > 0.05 * len(cust)
    assert (
        cust.signup_date.loc[ref.referrer_id].to_numpy()
        < cust.signup_date.loc[ref.referred_id].to_numpy()
    ).all()
    p = world["truth/customers"].set_index("customer_id").person_id
    ties = world["truth/ties"]
    tie_set = set(zip(ties.person_a, ties.person_b, strict=True))
    pairs = zip(p.loc[ref.referrer_id], p.loc[ref.referred_id], strict=True)
    assert all((a, b) in tie_set or (b, a) in tie_set for a, b in pairs)


def test_unknown_generator_key_is_rejected():
    cfg = compose(["data=synthetic_small"])
    node = dict(cfg.data.generator)
    node["n_customer"] = 10  # typo
    with pytest.raises(ConfigKeyError, match="n_customer"):
        generator_config(node)


def test_invalid_shares_are_rejected():
    cfg = compose(["data=synthetic_small", "data.generator.population.consent_share=1.5"])
    with pytest.raises(ValueError, match="consent_share"):
        generator_config(cfg.data.generator)


SMALL_300 = ["data=synthetic_small", "data.generator.n_customers=300"]
DRIFT_START = pd.Timestamp("2025-07-01")


def test_drift_keys_change_nothing_without_a_start(tmp_path):
    cfg = compose(SMALL_300)
    switched = compose(
        [
            *SMALL_300,
            "data.generator.drift.ticket_rate_factor=3",
            "data.generator.drift.spend_factor=2",
            "data.generator.drift.platform=tiktok",
            "data.generator.drift.platform_growth=0.5",
        ]
    )
    write_synthetic(cfg.data.generator, tmp_path / "a", cfg.data.salt)
    write_synthetic(switched.data.generator, tmp_path / "b", switched.data.salt)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")


def test_the_drift_switch_changes_the_world_from_its_start_on(tmp_path):
    plain = compose(SMALL_300)
    drift = compose(
        [
            *SMALL_300,
            f"data.generator.drift.start={DRIFT_START.date()}",
            "data.generator.drift.ticket_rate_factor=3",
            "data.generator.drift.spend_factor=2",
            "data.generator.drift.platform=tiktok",
            "data.generator.drift.platform_growth=0.5",
        ]
    )
    write_synthetic(plain.data.generator, tmp_path / "a", plain.data.salt)
    write_synthetic(drift.data.generator, tmp_path / "b", drift.data.salt)
    a, b = ({t: pd.read_parquet(tmp_path / w / f"{t}.parquet") for t in TABLES} for w in ("a", "b"))

    def split(frame, keep=None):
        frame = frame if keep is None else frame[keep(frame)]
        before = frame[frame.timestamp < DRIFT_START].drop(columns=frame.filter(like="_id"))
        return before.reset_index(drop=True), frame[frame.timestamp >= DRIFT_START]

    # tickets: the same before the start, three times as many after it
    a_before, a_after = split(a["support_tickets"])
    b_before, b_after = split(b["support_tickets"])
    pd.testing.assert_frame_equal(a_before, b_before)
    assert 2.2 < len(b_after) / len(a_after) < 4.0
    # purchases (returns are drawn afterwards over all purchases): the same before, twice
    # the amounts after
    bought = lambda t: ~t.is_return  # noqa: E731
    a_before, a_after = split(a["transactions"], bought)
    b_before, b_after = split(b["transactions"], bought)
    pd.testing.assert_frame_equal(a_before, b_before)
    assert 1.6 < b_after.amount.mean() / a_after.amount.mean() < 2.5
    # tiktok: about half of the customers without an account open one after the start
    acc_a, acc_b = a["social_accounts"], b["social_accounts"]
    tiktok = lambda acc: set(acc.customer_id[acc.platform == "tiktok"].dropna())  # noqa: E731
    new = tiktok(acc_b) - tiktok(acc_a)
    assert 0.4 < len(new) / (300 - len(tiktok(acc_a))) < 0.6
    opened = acc_b[acc_b.platform.eq("tiktok") & acc_b.customer_id.isin(new)]
    assert (opened.created_at >= DRIFT_START).all()
    # the accounts of the undrifted world are all there, with the same attributes
    kept = ["platform", "customer_id", "followers", "created_at", "follows_brand"]
    pd.testing.assert_frame_equal(acc_b[kept].iloc[: len(acc_a)], acc_a[kept])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.generator.drift.start=2030-01-01", "inside the history"),
        ("data.generator.drift.platform=myspace", "drift.platform must be one of"),
        ("data.generator.drift.platform_growth=0.3", "needs drift.platform"),
        ("data.generator.drift.ticket_rate_factor=0", "must be positive"),
    ],
)
def test_invalid_drift_is_rejected(override, message):
    cfg = compose(["data=synthetic_small", override])
    with pytest.raises(ValueError, match=message):
        generator_config(cfg.data.generator)


def test_generated_world_meets_the_contracts(small_world):
    from socialcrm.data.load import DataSource, validate_source

    cfg = compose(["data=synthetic_small", f"data.raw_dir={small_world.root}"])
    report = validate_source(DataSource.from_config(cfg.data))
    assert report.ok, str(report)
    assert report.tables["posts"] == len(small_world["posts"])


def test_ingest_of_the_same_data_gives_the_same_bytes(small_world, tmp_path):
    from socialcrm.data.load import DataSource, ingest

    digests = []
    for out in ("a", "b"):
        cfg = compose(
            [
                "data=synthetic_small",
                f"data.raw_dir={small_world.root}",
                f"data.interim_dir={tmp_path / out}",
            ]
        )
        ingest(DataSource.from_config(cfg.data))
        digests.append(
            {p.name: hashlib.sha256(p.read_bytes()).digest() for p in (tmp_path / out).iterdir()}
        )
    assert "_manifest.json" in digests[0] and len(digests[0]) == 10
    assert digests[0] == digests[1]


def test_best_customers_are_more_present_on_social_media(world):
    cust = world["customers"].set_index("customer_id")
    tx = world["transactions"]
    spend = tx.groupby("customer_id").amount.sum().reindex(cust.index, fill_value=0)
    acc = world["social_accounts"].dropna(subset=["customer_id"])
    follows = acc.groupby("customer_id").follows_brand.any().reindex(cust.index, fill_value=False)
    on_social = cust.index.isin(acc.customer_id)
    top = spend >= spend.quantile(0.9)
    bottom = spend <= spend.quantile(0.5)
    assert follows[top].mean() > follows[bottom].mean() + 0.15
    assert on_social[top.to_numpy()].mean() > on_social[bottom.to_numpy()].mean()
