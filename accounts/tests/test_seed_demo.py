import logging
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from accounts.management.commands.seed_demo import CUSTOMER_PASSWORD, STAFF_PASSWORD
from accounts.models import Notification, Payment, PaymentEvent
from accounts.tests.assertions import assert_ledger_consistent
from customers.models import Customer
from rentals.models import Rental
from vehicles.models import Location, Vehicle

pytestmark = pytest.mark.django_db


def _counts():
    return {
        model.__name__: model.objects.count()
        for model in (Location, Vehicle, Customer, get_user_model(), Rental, Payment, PaymentEvent, Notification)
    }


def test_seed_demo_loads_every_status_and_level_and_is_idempotent():
    # given / when
    out = StringIO()
    call_command("seed_demo", stdout=out)
    first = _counts()
    call_command("seed_demo", stdout=StringIO())

    # then: a second run changes nothing
    assert _counts() == first
    assert "admin / " + STAFF_PASSWORD in out.getvalue()
    assert set(Location.objects.values_list("city", flat=True)) == {"上海", "北京"}
    assert Vehicle.objects.count() == 20
    assert set(Customer.objects.values_list("member_level", flat=True)) == set(Customer.MemberLevel.values)
    assert set(Rental.objects.values_list("status", flat=True)) == set(Rental.Status.values)
    assert Payment.objects.filter(transaction_type="REFUND", status="REFUNDED").exists()
    assert Rental.objects.filter(requires_manual_refund=True).count() == 1
    for rental in Rental.objects.all():
        assert_ledger_consistent(rental)


def test_printed_credentials_log_in(client):
    call_command("seed_demo", stdout=StringIO())

    assert client.login(username="admin", password=STAFF_PASSWORD)
    assert client.get("/admin/").status_code == 200
    client.logout()
    assert client.login(username="zhangsan", password=CUSTOMER_PASSWORD)


def test_demo_money_is_dated_when_it_would_have_happened(time_machine):
    from accounts.finance import day_start, local_today, revenue_between
    from rentals.tests.admin_support import NOW

    time_machine.move_to(NOW)
    call_command("seed_demo", stdout=StringIO())

    refunds = Payment.objects.filter(transaction_type="REFUND", status="REFUNDED").select_related("rental")
    assert refunds.exists()
    for refund in refunds:
        rental = refund.rental
        closed_at = rental.actual_return_time if rental.status == Rental.Status.COMPLETED else rental.cancelled_at
        assert refund.paid_at == refund.created_at == closed_at
        assert set(refund.events.values_list("created_at", flat=True)) == {closed_at}
    for charge in Payment.objects.filter(transaction_type="CHARGE", status="PAID").select_related("rental"):
        assert charge.paid_at == charge.rental.created_at  # paid when booked
        assert set(charge.events.values_list("created_at", flat=True)) == {charge.rental.created_at}
    # the dashboard's "today" holds only today's bookings, no refunds
    today = revenue_between(day_start(local_today()), timezone.now())
    assert today.refunds == 0
    assert today.revenue == sum(
        p.amount
        for p in Payment.objects.filter(
            transaction_type="CHARGE",
            status="PAID",
            rental__start_time__gt=timezone.now(),
            rental__status=Rental.Status.PENDING,
        )
    )
    for rental in Rental.objects.all():
        assert_ledger_consistent(rental)


def test_the_manual_refund_case_is_announced_as_demo_data_not_a_warning(caplog):
    out = StringIO()

    with caplog.at_level(logging.WARNING):
        call_command("seed_demo", stdout=out)

    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    walk_in = Rental.objects.get(requires_manual_refund=True)
    assert f"Order #{walk_in.pk} (walk-in, paid in cash, then cancelled) is demo data for the manual-refund flow" in (
        out.getvalue()
    )
    assert logging.getLogger("rentals.services").level == logging.NOTSET  # restored


def test_demo_stores_have_hours_and_phones_and_demo_cars_have_photos(settings):
    from pathlib import Path

    call_command("seed_demo", stdout=StringIO())
    photos = dict(Vehicle.objects.values_list("plate_number", "photo"))
    call_command("seed_demo", stdout=StringIO())

    for store in Location.objects.all():
        assert store.opens_at is not None and store.closes_at is not None, store
        assert store.phone_uri.startswith("tel:0"), store
    assert Location.objects.get(name="人民广场店").opening_hours == "每天 08:00–22:00"
    assert Location.objects.get(name="虹桥机场店").opening_hours == "24 小时营业"
    assert all(photos.values())
    for name in photos.values():
        assert (Path(settings.MEDIA_ROOT) / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert dict(Vehicle.objects.values_list("plate_number", "photo")) == photos  # a second run changes nothing


def test_seed_demo_draws_a_demo_photo_again_when_its_file_is_gone(settings):
    from pathlib import Path

    call_command("seed_demo", stdout=StringIO())
    car = Vehicle.objects.get(plate_number="沪A10001")
    (Path(settings.MEDIA_ROOT) / car.photo.name).unlink()

    call_command("seed_demo", stdout=StringIO())

    car.refresh_from_db()
    assert (Path(settings.MEDIA_ROOT) / car.photo.name).is_file()


def test_seed_demo_gives_stores_of_an_older_demo_their_hours():
    Location.objects.create(city="上海", name="人民广场店", address="黄浦区南京西路 1 号")

    call_command("seed_demo", stdout=StringIO())

    store = Location.objects.get(name="人民广场店")
    assert (store.opening_hours, store.phone) == ("每天 08:00–22:00", "021-6350 1001")
