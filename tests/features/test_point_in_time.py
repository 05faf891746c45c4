"""No leakage: features see only the past, labels only the horizon."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import build

CUTOFF = pd.Timestamp("2025-01-01")
HORIZON = pd.Timedelta(days=90)


def _append(tables: dict[str, pd.DataFrame], name: str, rows: list[dict]) -> None:
    if rows:
        new = pd.DataFrame(rows)
        tables[name] = pd.concat(
            [tables[name], new.astype(tables[name].dtypes[new.columns].to_dict())],
            ignore_index=True,
        )


def _draw_events(data, tables, start: pd.Timestamp, end: pd.Timestamp | None) -> dict:
    """Random canonical events dated in [start, end) (end None: up to 400 days later)."""
    customers = tables["customers"].customer_id.tolist()
    accounts = tables["social_accounts"].account_id.tolist()
    offers = [*tables["offers"].offer_id.tolist(), None]
    span = (end - start).days if end is not None else 400

    def when():
        return start + pd.Timedelta(seconds=data.draw(st.integers(0, span * 86400 - 1)))

    out = {k: [] for k in ("transactions", "support_tickets", "offer_log", "posts", "social_edges")}
    for i in range(data.draw(st.integers(0, 6))):
        is_return = data.draw(st.booleans())
        amount = data.draw(st.floats(0.01, 900.0))
        out["transactions"].append(
            {
                "transaction_id": f"TNEW{i}",
                "customer_id": data.draw(st.sampled_from(customers)),
                "timestamp": when(),
                "amount": -amount if is_return else amount,
                "is_return": is_return,
                "category": "fashion",
                "channel": data.draw(st.sampled_from(["web", "app", "store", "phone"])),
            }
        )
    for i in range(data.draw(st.integers(0, 3))):
        out["support_tickets"].append(
            {
                "ticket_id": f"KNEW{i}",
                "customer_id": data.draw(st.sampled_from(customers)),
                "timestamp": when(),
                "category": "billing",
                "resolution_hours": data.draw(st.one_of(st.none(), st.floats(0.1, 300.0))),
                "satisfaction": data.draw(st.one_of(st.none(), st.integers(1, 5))),
            }
        )
    for i in range(data.draw(st.integers(0, 3))):
        out["offer_log"].append(
            {
                "log_id": f"LNEW{i}",
                "customer_id": data.draw(st.sampled_from(customers)),
                "timestamp": when(),
                "offer_id": data.draw(st.sampled_from(offers)),
                "channel": "email",
                "propensity": 0.5,
                "response": data.draw(st.booleans()),
                "revenue": data.draw(st.floats(0.0, 300.0)),
            }
        )
    for i in range(data.draw(st.integers(0, 4))):
        out["posts"].append(
            {
                "post_id": f"PNEW{i}",
                "account_id": data.draw(st.sampled_from(accounts)),
                "platform": "x",
                "timestamp": when(),
                "text": data.draw(st.sampled_from(["I hate this, never again", "love it!", "ok"])),
                "likes": data.draw(st.integers(0, 500)),
                "shares": data.draw(st.integers(0, 50)),
                "mentions_brand": data.draw(st.booleans()),
            }
        )
    for _ in range(data.draw(st.integers(0, 4))):
        out["social_edges"].append(
            {
                "src_account_id": data.draw(st.sampled_from(accounts)),
                "dst_account_id": data.draw(st.sampled_from(accounts)),
                "edge_type": data.draw(st.sampled_from(["follow", "mention", "reply"])),
                "timestamp": when(),
            }
        )
    return out


def _apply(tables, events, data, start, with_people: bool) -> dict[str, pd.DataFrame]:
    t = {k: v.copy() for k, v in tables.items()}
    for name, rows in events.items():
        _append(t, name, rows)
    if with_people:
        # a new customer signs up later, referred by an existing one, with a new account
        referrer = data.draw(st.sampled_from(t["customers"].customer_id.tolist()))
        joined = start + pd.Timedelta(days=data.draw(st.integers(0, 300)))
        new = (
            t["customers"]
            .iloc[[0]]
            .assign(customer_id="CNEW", signup_date=joined, closed_at=pd.NaT, consent_social=True)
        )
        t["customers"] = pd.concat([t["customers"], new], ignore_index=True)
        _append(
            t, "referrals", [{"referrer_id": referrer, "referred_id": "CNEW", "timestamp": joined}]
        )
        owner = data.draw(st.sampled_from(t["customers"].customer_id.tolist()))
        _append(
            t,
            "social_accounts",
            [
                {
                    "account_id": "ANEW",
                    "platform": "tiktok",
                    "customer_id": owner,
                    "handle_hash": "f" * 32,
                    "followers": 10,
                    "created_at": joined,
                    "follows_brand": True,
                }
            ],
        )
        # an open contract closes later
        open_ = t["customers"].index[t["customers"].closed_at.isna()]
        i = data.draw(st.sampled_from(list(open_)))
        t["customers"].loc[i, "closed_at"] = start + pd.Timedelta(
            days=data.draw(st.integers(0, 300))
        )
    return t


@pytest.fixture(scope="module")
def baseline(tiny_tables):
    return build(tiny_tables, cutoffs=[CUTOFF])


def _compare(a: pd.DataFrame, b: pd.DataFrame, cols: list[str]) -> None:
    pd.testing.assert_frame_equal(
        a[["customer_id", *cols]].reset_index(drop=True),
        b[["customer_id", *cols]].reset_index(drop=True),
        check_exact=False,
        rtol=1e-9,
        atol=1e-9,
    )


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_events_at_or_after_the_cutoff_change_no_feature(tiny_tables, baseline, data):
    events = _draw_events(data, tiny_tables, CUTOFF, None)
    changed = build(_apply(tiny_tables, events, data, CUTOFF, with_people=True), cutoffs=[CUTOFF])
    assert len(changed.frame) == len(baseline.frame)
    _compare(baseline.frame, changed.frame, baseline.feature_names)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_events_after_the_horizon_change_no_label(tiny_tables, baseline, data):
    after = CUTOFF + HORIZON
    events = _draw_events(data, tiny_tables, after, None)
    changed = build(_apply(tiny_tables, events, data, after, with_people=True), cutoffs=[CUTOFF])
    _compare(baseline.frame, changed.frame, [*baseline.feature_names, *baseline.label_names])


def test_events_inside_the_horizon_do_change_labels(tiny_tables, baseline):
    """The property tests above could pass vacuously if labels ignored everything."""
    active = baseline.frame.customer_id[~baseline.frame.label_churn].iloc[0]
    t = {k: v.copy() for k, v in tiny_tables.items()}
    _append(
        t,
        "transactions",
        [
            {
                "transaction_id": "TIN",
                "customer_id": active,
                "timestamp": CUTOFF + pd.Timedelta(days=10),
                "amount": 123.45,
                "is_return": False,
                "category": "home",
                "channel": "web",
            }
        ],
    )
    t["customers"].loc[t["customers"].customer_id == active, "closed_at"] = CUTOFF + pd.Timedelta(
        days=5
    )
    changed = build(t, cutoffs=[CUTOFF]).frame.set_index("customer_id")
    base = baseline.frame.set_index("customer_id")
    assert changed.loc[active, "label_future_spend"] == pytest.approx(
        base.loc[active, "label_future_spend"] + 123.45
    )
    assert changed.loc[active, "label_churn"] and not base.loc[active, "label_churn"]


def test_an_event_exactly_at_the_cutoff_is_not_a_feature_but_is_a_label(tiny_tables, baseline):
    cust = baseline.frame.customer_id.iloc[0]
    t = {k: v.copy() for k, v in tiny_tables.items()}
    _append(
        t,
        "transactions",
        [
            {
                "transaction_id": "TAT",
                "customer_id": cust,
                "timestamp": CUTOFF,
                "amount": 50.0,
                "is_return": False,
                "category": "home",
                "channel": "web",
            }
        ],
    )
    changed = build(t, cutoffs=[CUTOFF])
    _compare(baseline.frame, changed.frame, baseline.feature_names)
    row = changed.frame.set_index("customer_id").loc[cust]
    assert (
        row.label_future_purchases
        == baseline.frame.set_index("customer_id").loc[cust].label_future_purchases + 1
    )


def test_ticket_scores_are_used_only_once_resolved(tiny_tables, baseline):
    """A ticket opened before the cutoff but resolved after it is open, and its score unknown."""
    t = {k: v.copy() for k, v in tiny_tables.items()}
    cust = baseline.frame.customer_id.iloc[0]
    t["support_tickets"] = t["support_tickets"][t["support_tickets"].customer_id != cust]
    ticket = {
        "ticket_id": "KOPEN",
        "customer_id": cust,
        "timestamp": CUTOFF - pd.Timedelta(hours=10),
        "category": "billing",
        "resolution_hours": 30.0,
        "satisfaction": 1,
    }
    _append(t, "support_tickets", [ticket])
    t["customers"].loc[t["customers"].customer_id == cust, ["closed_at"]] = pd.NaT
    row = build(t, cutoffs=[CUTOFF]).frame.set_index("customer_id").loc[cust]
    assert row.n_tickets_90d == 1 and row.n_open_tickets == 1
    assert row.n_bad_tickets_365d == 0 and np.isnan(row.ticket_satisfaction_365d)
    later = (
        build(t, cutoffs=[CUTOFF + pd.Timedelta(days=2)]).frame.set_index("customer_id").loc[cust]
    )
    assert later.n_open_tickets == 0 and later.n_bad_tickets_365d == 1
    assert later.ticket_satisfaction_365d == 1
