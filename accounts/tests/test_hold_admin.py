"""Staff pages of the deposit holds (SPEC §18): the read-only hold, release
and traffic-fine admins with their filters and search, the Rental admin's
filters by deposit mode and hold status and its inline of holds, the holds
expiring before their release, and the dashboard's figures of holds; every
list in a fixed number of queries."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import finance_holds
from accounts.models import DepositHold, HoldRelease, TakeReason
from accounts.tests.hold_support import held_rental, make_hold, release, take
from rentals.models import Rental
from rentals.tests.admin_support import staff_in_group
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

D = Decimal
HOLDS = "/admin/accounts/deposithold/"
RENTALS = "/admin/rentals/rental/"
DASHBOARD = "/admin/accounts/payment/dashboard/"


def get(client, url, params=None):
    response = client.get(url, params or {}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200, response.status_code
    return response


def queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        get(client, url, params)
    return len(ctx.captured_queries)


def listed_holds(response) -> set[str]:
    return {hold.transaction_id for hold in response.context["cl"].result_list}


def hold_orders(n: int, *, provider: str = "alipay", start: int = 0) -> list[DepositHold]:
    """``n`` HOLD orders a week apart, each with a HELD hold of 4,000 with a take and a release."""
    base = timezone.now() + timedelta(days=400)
    holds = []
    for i in range(start, start + n):
        rental = held_rental(start_time=base + timedelta(days=7 * i), end_time=base + timedelta(days=7 * i + 2))
        hold = make_hold(rental, provider=provider, amount=D("4000.00"))
        take(hold, D("100.00"), TakeReason.DAMAGE)
        release(hold, D("500.00"))
        holds.append(hold)
    return holds


@pytest.fixture
def expiry_cases():
    """Holds around the 3-day warning, now = the test's clock."""
    now = timezone.now()
    cases = {}
    for name, status, expires, release_after in (
        ("before_release", DepositHold.Status.HELD, now + timedelta(days=2), now + timedelta(days=20)),
        ("no_release_yet", DepositHold.Status.HELD, now + timedelta(days=1), None),
        ("on_the_edge", DepositHold.Status.HELD, now + timedelta(days=3), now + timedelta(days=30)),
        ("released_first", DepositHold.Status.HELD, now + timedelta(days=2), now + timedelta(days=1)),
        ("far_off", DepositHold.Status.HELD, now + timedelta(days=3, minutes=1), None),
        ("no_expiry", DepositHold.Status.HELD, None, None),
        ("not_held", DepositHold.Status.PENDING, now + timedelta(days=1), None),
    ):
        rental = held_rental(start_time=now + timedelta(days=100 + 5 * len(cases)))
        cases[name] = make_hold(rental, status=status, expires_at=expires, release_after=release_after)
    return cases


def test_expiring_holds_are_held_ones_ending_at_the_provider_within_3_days_and_before_their_release(expiry_cases):
    expected = {"before_release", "no_release_yet", "on_the_edge"}
    found = set(finance_holds.expiring_holds().values_list("transaction_id", flat=True))
    assert found == {expiry_cases[name].transaction_id for name in expected}


def test_the_hold_admin_lists_filters_and_searches(staff_client, expiry_cases):
    alipay = hold_orders(1)[0]
    wechat = hold_orders(1, provider="wechatpay", start=1)[0]
    response = get(staff_client, HOLDS)
    html = response.content.decode()
    assert alipay.transaction_id in html and "¥4,000.00" in html and "¥100.00" in html and "¥500.00" in html

    expiring = listed_holds(get(staff_client, HOLDS, {"expiring": "3d"}))
    assert expiring == {expiry_cases[n].transaction_id for n in ("before_release", "no_release_yet", "on_the_edge")}
    assert listed_holds(get(staff_client, HOLDS, {"provider": "wechatpay"})) == {wechat.transaction_id}
    assert expiry_cases["not_held"].transaction_id in listed_holds(
        get(staff_client, HOLDS, {"status__exact": "PENDING"})
    )
    for term in (alipay.transaction_id, str(alipay.rental_id)):
        assert listed_holds(get(staff_client, HOLDS, {"q": term})) == {alipay.transaction_id}
    assert alipay.transaction_id in listed_holds(get(staff_client, HOLDS, {"q": alipay.provider_reference}))
    assert listed_holds(get(staff_client, HOLDS, {"q": "nothing-like-it"})) == set()


def test_releases_due_are_listed(staff_client, time_machine):
    due, later = hold_orders(2)
    DepositHold.objects.filter(pk=due.pk).update(release_after=timezone.now() - timedelta(hours=1))
    DepositHold.objects.filter(pk=later.pk).update(release_after=timezone.now() + timedelta(days=1))
    assert listed_holds(get(staff_client, HOLDS, {"release": "due"})) == {due.transaction_id}


def test_the_hold_admins_are_read_only(staff_client):
    hold = hold_orders(1)[0]
    change = reverse("admin:accounts_deposithold_change", args=[hold.pk])
    html = get(staff_client, change).content.decode()
    assert 'name="_save"' not in html and "Damage fee" in html and "HLR" in html
    assert staff_client.post(change, {"status": "RELEASED"}).status_code == 403
    assert staff_client.get(reverse("admin:accounts_deposithold_add")).status_code == 403
    assert (
        staff_client.post(reverse("admin:accounts_deposithold_delete", args=[hold.pk]), {"post": "yes"}).status_code
        == 403
    )
    hold.refresh_from_db()
    assert hold.status == DepositHold.Status.HELD
    release_row = hold.releases.get()
    assert staff_client.get(reverse("admin:accounts_holdrelease_add")).status_code == 403
    assert staff_client.post(reverse("admin:accounts_holdrelease_change", args=[release_row.pk]), {}).status_code == 403
    assert staff_client.get(reverse("admin:accounts_trafficfine_add")).status_code == 403


def test_releases_and_fines_are_listed_and_searched(staff_client):
    hold = hold_orders(1)[0]
    take(hold, D("200.00"), TakeReason.TRAFFIC_FINE, fine_reference="3101150000999")
    release_row = HoldRelease.objects.get(hold=hold)
    releases = get(staff_client, "/admin/accounts/holdrelease/", {"q": hold.transaction_id})
    assert [r.pk for r in releases.context["cl"].result_list] == [release_row.pk]
    fines = get(staff_client, "/admin/accounts/trafficfine/", {"q": "3101150000999"})
    assert [f.reference for f in fines.context["cl"].result_list] == ["3101150000999"]
    assert get(staff_client, "/admin/accounts/trafficfine/", {"q": "nope"}).context["cl"].result_list.count() == 0


@pytest.mark.parametrize(
    "url", [HOLDS, "/admin/accounts/holdrelease/", "/admin/accounts/trafficfine/", RENTALS + "?hold=HELD"]
)
def test_the_lists_cost_the_same_queries_for_2_holds_as_for_20(staff_client, url):
    for i, hold in enumerate(hold_orders(2)):
        take(hold, D("10.00"), TakeReason.TRAFFIC_FINE, fine_reference=f"A{i}")
    get(staff_client, url)  # the provider filter's values are read once and kept
    few = queries(staff_client, url)
    for i, hold in enumerate(hold_orders(18, start=2)):
        take(hold, D("10.00"), TakeReason.TRAFFIC_FINE, fine_reference=f"B{i}")
    assert queries(staff_client, url) == few


def test_the_rental_admin_filters_by_deposit_mode_and_hold_status_and_shows_the_holds(staff_client):
    now = timezone.now()
    money = RentalFactory(start_time=now + timedelta(days=300))
    held = hold_orders(1)[0]
    waiting_rental = held_rental(mode=Rental.DepositMode.CREDIT, start_time=now + timedelta(days=320))
    waiting = make_hold(waiting_rental, provider="wechatpay", status=DepositHold.Status.PENDING)
    refused_rental = held_rental(start_time=now + timedelta(days=340))
    make_hold(refused_rental, status=DepositHold.Status.FAILED, failure_reason="no balance")

    def ids(params):
        return {r.pk for r in get(staff_client, RENTALS, params).context["cl"].result_list}

    assert ids({"deposit_mode__exact": "CREDIT"}) == {waiting_rental.pk}
    assert ids({"hold": "HELD"}) == {held.rental_id}
    assert ids({"hold": "PENDING"}) == {waiting.rental_id}
    assert ids({"hold": "any"}) == {held.rental_id, waiting_rental.pk, refused_rental.pk}
    assert money.pk in ids({"hold": "none"}) and held.rental_id not in ids({"hold": "none"})

    page = get(staff_client, reverse("admin:rentals_rental_change", args=[refused_rental.pk])).content.decode()
    assert "no balance" in page and "deposit hold" in page.lower()


@pytest.fixture
def finance_client(client):
    client.force_login(staff_in_group("finance"))
    return client


def test_the_dashboard_shows_holds_by_provider_releases_due_and_expiring_as_the_rows_sum(finance_client):
    now = timezone.now()
    holds = hold_orders(3) + hold_orders(2, provider="wechatpay", start=3)
    take(holds[0], D("333.33"), TakeReason.OVERDUE)
    DepositHold.objects.filter(pk__in=[holds[1].pk, holds[3].pk]).update(release_after=now - timedelta(minutes=5))
    DepositHold.objects.filter(pk=holds[2].pk).update(expires_at=now + timedelta(days=2))
    closed = hold_orders(1, start=5)[0]
    DepositHold.objects.filter(pk=closed.pk).update(status=DepositHold.Status.RELEASED)

    rows = list(DepositHold.objects.filter(status=DepositHold.Status.HELD))
    by_provider: dict[str, list] = {}
    for hold in rows:
        by_provider.setdefault(hold.provider, [0, D("0.00")])
        by_provider[hold.provider][0] += 1
        by_provider[hold.provider][1] += hold.amount - hold.captured_amount - hold.released_amount
    due = [h for h in rows if h.release_after and h.release_after <= now]

    figures = finance_holds.dashboard_holds()
    assert {r["provider"]: [r["count"], r["held"]] for r in figures["holds_by_provider"]} == by_provider
    assert by_provider["alipay"][1] == D("3400.00") * 3 - D("333.33")
    assert figures["releases_due_count"] == len(due) == 2
    assert figures["releases_due_total"] == sum(h.rest for h in due)
    assert figures["expiring_count"] == 1

    html = get(finance_client, DASHBOARD).content.decode()
    assert f'id="holds-held-total" data-amount="{figures["holds_held_total"]}"' in html
    assert 'data-provider="wechatpay"' in html and "WeChat Pay Score" in html
    assert 'id="releases-due-count" data-value="2"' in html and 'id="expiring-holds-count" data-value="1"' in html
    assert "?expiring=3d" in html and "?release=due" in html


def test_the_dashboards_hold_figures_cost_one_query_whatever_the_holds(finance_client):
    with CaptureQueriesContext(connection) as ctx:
        finance_holds.dashboard_holds()
    assert len(ctx.captured_queries) == 1
    few = queries(finance_client, DASHBOARD)
    hold_orders(12)
    assert queries(finance_client, DASHBOARD) == few
