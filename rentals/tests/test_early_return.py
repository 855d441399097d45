"""Early return (SPEC §19): a car back more than ``OVERDUE_GRACE`` before the
end pays the used days' rent at the booked rate and discount plus the policy's
percent of the unused days' rent; the rest goes back through the provider
(§11) and the order is SETTLED once the refund is confirmed."""

from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.models import Payment
from accounts.providers import sandbox
from accounts.services import handle_callback
from accounts.tests.assertions import assert_ledger_consistent
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from rentals import services
from rentals.models import Rental
from rentals.services import pickup_rental, process_return
from rentals.tests.clock import START
from rentals.tests.factories import book, pay

pytestmark = pytest.mark.django_db

END5 = START + timedelta(days=5)
D = Decimal

# level, days used: (used rent, unused days' rent, early-return fee, new rental fee, refund)
# ¥300 a day, ¥2,000 deposit (none for VIP), policy version 1: 20 % of the unused rent.
CASES = {
    ("REGULAR", 1): ("300.00", "1200.00", "240.00", "540.00", "2960.00"),
    ("REGULAR", 2): ("600.00", "900.00", "180.00", "780.00", "2720.00"),
    ("REGULAR", 3): ("900.00", "600.00", "120.00", "1020.00", "2480.00"),
    ("GOLD", 1): ("270.00", "1080.00", "216.00", "486.00", "2864.00"),
    ("GOLD", 2): ("540.00", "810.00", "162.00", "702.00", "2648.00"),
    ("GOLD", 3): ("810.00", "540.00", "108.00", "918.00", "2432.00"),
    ("VIP", 2): ("510.00", "765.00", "153.00", "663.00", "612.00"),
}


def _on_the_road(frozen_clock, level, staff_user, vehicle):
    customer = CustomerFactory(member_level=getattr(Customer.MemberLevel, level))
    rental = book(customer, vehicle, START, END5)
    pay(rental, payment_method=Payment.Method.ALIPAY)
    frozen_clock.move_to(START, tick=False)
    pickup_rental(rental=rental, by_user=staff_user)
    return rental


def _refunds(rental):
    return list(Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND))


@pytest.mark.parametrize(("level", "used"), list(CASES))
def test_early_return_refunds_the_unused_days_less_the_fee_through_the_provider(
    frozen_clock, staff_user, vehicle, settings, level, used
):
    used_rent, unused_rent, fee, total, refund = (D(v) for v in CASES[(level, used)])
    rental = _on_the_road(frozen_clock, level, staff_user, vehicle)
    paid = rental.order_total
    when = START + timedelta(days=used) - timedelta(hours=3)
    frozen_clock.move_to(when, tick=False)
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "hold"
    preview = services.return_preview(rental=rental, returned_at=when, location=rental.return_location)

    process_return(rental=rental, returned_at=when, location=rental.return_location, by_user=staff_user)

    rental.refresh_from_db()
    assert (rental.early_return_fee, rental.total_amount) == (fee, total)
    assert rental.total_amount - rental.early_return_fee == used_rent
    assert rental.get_order_amount_breakdown()["early_return_fee"] == fee
    assert rental.get_order_amount_breakdown()["rental_fee"] == used_rent
    assert (preview.used_days, preview.unused_rent, preview.early_return_fee) == (used, unused_rent, fee)
    assert (preview.total_amount, preview.deposit_refund) == (total, refund)
    assert paid - rental.money_figures().owed == refund
    [online] = _refunds(rental)
    assert (online.amount, online.status) == (refund, Payment.Status.PROCESSING)
    assert rental.settlement_status != Rental.SettlementStatus.SETTLED

    headers, body = sandbox.build_callback(
        transaction_id=online.transaction_id, status="refunded", amount=online.amount, event_id=f"evt-{rental.pk}"
    )
    assert handle_callback(provider="sandbox", headers=headers, body=body)[0] == 200

    online.refresh_from_db()
    rental.refresh_from_db()
    assert online.status == Payment.Status.REFUNDED
    assert rental.amount_refunded == refund
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


@pytest.mark.parametrize("before_end", [timedelta(minutes=30), timedelta(minutes=60), timedelta(hours=2)])
def test_a_return_within_the_grace_or_on_the_last_day_is_not_early(frozen_clock, staff_user, vehicle, before_end):
    rental = _on_the_road(frozen_clock, "REGULAR", staff_user, vehicle)
    when = END5 - before_end
    frozen_clock.move_to(when, tick=False)

    process_return(rental=rental, returned_at=when, location=rental.return_location, by_user=staff_user)

    rental.refresh_from_db()
    assert (rental.early_return_fee, rental.total_amount) == (D("0.00"), D("1500.00"))
    assert sum(r.amount for r in _refunds(rental)) == D("2000.00")  # the deposit only


def test_a_return_just_beyond_the_grace_on_the_first_day_is_early(frozen_clock, staff_user, vehicle):
    """A one-day rental back 61 minutes early used its one day: nothing changes;
    a five-day one back after an hour pays one day and 20 % of four."""
    rental = _on_the_road(frozen_clock, "REGULAR", staff_user, vehicle)
    when = START + timedelta(hours=1)
    frozen_clock.move_to(when, tick=False)

    process_return(rental=rental, returned_at=when, location=rental.return_location, by_user=staff_user)

    rental.refresh_from_db()
    assert (rental.early_return_fee, rental.total_amount, rental.discount_amount) == (
        D("240.00"),
        D("540.00"),
        D("0.00"),
    )


def test_the_staff_return_page_previews_the_early_return_it_then_makes(staff_client, frozen_clock, staff_user, vehicle):
    from django.urls import reverse

    from rentals.tests.admin_support import RETURN_CHECK

    rental = _on_the_road(frozen_clock, "GOLD", staff_user, vehicle)
    when = START + timedelta(days=2) - timedelta(hours=3)
    frozen_clock.move_to(when, tick=False)
    url = reverse("admin:rentals_rental_return", args=[rental.pk])
    post = {
        **RETURN_CHECK,
        "returned_at": when.astimezone(START.tzinfo).strftime("%Y-%m-%dT%H:%M"),
        "location": rental.return_location_id,
        "damage_fee": "0.00",
    }

    page = staff_client.post(url, {**post, "_preview": "1"}, HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    for element, amount in [
        ("preview-used-rent", "540.00"),
        ("preview-unused-rent", "810.00"),
        ("preview-early-return-fee", "162.00"),
        ("preview-total-amount", "702.00"),
        ("preview-deposit-refund", "2648.00"),
    ]:
        assert f'id="{element}" data-amount="{amount}"' in html
    assert "Back early: 2 days used of 5 booked." in html
    assert "Early-return fee (20 % of the unused days' rent)" in html
    rental.refresh_from_db()
    assert rental.status == Rental.Status.ONGOING  # the preview writes nothing

    staff_client.post(url, {**post, "_confirm": "1"})

    rental.refresh_from_db()
    assert rental.status == Rental.Status.COMPLETED
    assert (rental.total_amount, rental.early_return_fee) == (D("702.00"), D("162.00"))
    assert sum(r.amount for r in _refunds(rental)) == page.context["preview"].deposit_refund == D("2648.00")
    change = staff_client.get(reverse("admin:rentals_rental_change", args=[rental.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert "early return fee" in change.content.decode().lower() and "¥162.00" in change.content.decode()


def test_the_staff_return_preview_of_an_early_return_reads_in_chinese(staff_client, frozen_clock, staff_user, vehicle):
    from django.urls import reverse

    from rentals.tests.admin_support import RETURN_CHECK

    rental = _on_the_road(frozen_clock, "REGULAR", staff_user, vehicle)
    when = START + timedelta(days=3) - timedelta(hours=3)
    frozen_clock.move_to(when, tick=False)
    post = {
        **RETURN_CHECK,
        "returned_at": when.astimezone(START.tzinfo).strftime("%Y-%m-%dT%H:%M"),
        "location": rental.return_location_id,
        "damage_fee": "0.00",
        "_preview": "1",
    }

    html = staff_client.post(
        reverse("admin:rentals_rental_return", args=[rental.pk]), post, HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()

    for words in (
        "提前还车：预订 5 天，已用 3 天。",
        "未用 2 天的租金",
        "提前还车费（未用天数租金的 20%）",
        "提前还车后的租金",
    ):
        assert words in html


def test_the_early_return_refund_the_provider_confirms_at_once_settles_the_order(frozen_clock, staff_user, vehicle):
    """With the sandbox's default outcome the refund row, written PENDING, is
    confirmed when it is asked for: REFUNDED, and the order SETTLED."""
    rental = _on_the_road(frozen_clock, "VIP", staff_user, vehicle)
    when = START + timedelta(days=2) - timedelta(hours=3)
    frozen_clock.move_to(when, tick=False)

    process_return(rental=rental, returned_at=when, location=rental.return_location, by_user=staff_user)

    rental.refresh_from_db()
    [online] = _refunds(rental)
    assert (online.amount, online.status, online.provider) == (D("612.00"), Payment.Status.REFUNDED, "sandbox")
    assert sandbox.book_entry("refund", online.transaction_id)["amount"] == "612.00"
    assert (rental.total_amount, rental.early_return_fee) == (D("663.00"), D("153.00"))
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_the_fee_follows_the_policy_version_of_the_booking(frozen_clock, staff_user, vehicle):
    from rentals.models import CancellationPolicy

    rental = _on_the_road(frozen_clock, "REGULAR", staff_user, vehicle)
    CancellationPolicy.objects.create(version=2, effective_from=START, early_return_fee_percent=50)
    when = START + timedelta(days=1) - timedelta(hours=3)
    frozen_clock.move_to(when, tick=False)

    process_return(rental=rental, returned_at=when, location=rental.return_location, by_user=staff_user)

    rental.refresh_from_db()
    assert (rental.policy.version, rental.early_return_fee, rental.total_amount) == (1, D("240.00"), D("540.00"))
    later = book(CustomerFactory(), vehicle, START + timedelta(days=10), START + timedelta(days=15))
    assert later.policy.version == 2


def test_the_return_notice_tells_the_rent_of_the_days_used_and_the_fee(frozen_clock, staff_user, vehicle):
    from django.utils import translation

    from accounts.models import Notification

    rental = _on_the_road(frozen_clock, "GOLD", staff_user, vehicle)
    when = START + timedelta(days=3) - timedelta(hours=3)
    frozen_clock.move_to(when, tick=False)

    process_return(rental=rental, returned_at=when, location=rental.return_location, by_user=staff_user)

    note = Notification.objects.get(notification_type=Notification.Type.RENTAL_RETURNED)
    assert "the rent is now ¥810.00 for the days used, plus an early-return fee of ¥108.00" in note.message_text
    with translation.override("zh-hans"):
        assert "已用天数的租金为 ¥810.00，另收提前还车费 ¥108.00" in note.message_text
