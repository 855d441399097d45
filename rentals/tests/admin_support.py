"""Builders shared by the admin tests: staff users in the migration's groups and
rentals in the states the staff pages act on. Ledger rows are written as the
services would and the stored figures refreshed."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import Payment
from accounts.tests.factories import PaymentFactory
from customers.tests.factories import StaffUserFactory, UserFactory
from rentals.models import Rental
from rentals.tests.factories import RentalFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A fixed "now" for time travel: 2026-03-10 10:00 in Shanghai.
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=SHANGHAI)


# What a clerk enters on the pick-up and return pages about the driver and the car.
PICKUP_CHECK = {
    "id_seen": "on",
    "licence_seen": "on",
    "licence_valid_until": "2030-12-31",
    "mileage_km": "12000",
    "fuel_eighths": "8",
    "condition_notes": "",
}
RETURN_CHECK = {"mileage_km": "12480", "fuel_eighths": "6", "condition_notes": ""}


def fill_pickup_check(page, *, valid_until: str = "2030-12-31", mileage: str = "12000", fuel: str = "8") -> None:
    """Fill the pick-up page's driver and car check in a browser (Playwright)."""
    page.check("#id_id_seen")
    page.check("#id_licence_seen")
    page.fill("#id_licence_valid_until", valid_until)
    page.fill("#id_mileage_km", mileage)
    page.select_option("#id_fuel_eighths", fuel)


def fill_return_check(page, *, mileage: str = "12480", fuel: str = "6", notes: str = "") -> None:
    """Fill the return page's readings in a browser (Playwright)."""
    page.fill("#id_mileage_km", mileage)
    page.select_option("#id_fuel_eighths", fuel)
    if notes:
        page.fill("#id_condition_notes", notes)


def ensure_finance_group() -> None:
    """The "finance" group as the migrations define it (a transactional test
    flushes what migrations wrote)."""
    import importlib

    from django.contrib.auth.models import Permission

    names = list(importlib.import_module("accounts.migrations.0002_staff_groups").GROUPS["finance"])
    for later in ("0007_reconciliation_runs_and_discrepancies", "0011_invoice_requests"):
        extra = importlib.import_module(f"accounts.migrations.{later}").FINANCE_PERMISSIONS
        names += [f"accounts.{codename}" for codename in extra]
    group, _ = Group.objects.get_or_create(name="finance")
    for name in names:
        app_label, codename = name.split(".")
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def staff_in_group(name: str, username: str | None = None):
    user = StaffUserFactory(username=username or f"{name}-clerk")
    user.groups.add(Group.objects.get(name=name))
    return user


def plain_staff(username: str = "no-perms"):
    """Staff (can log in to the admin) without any permission."""
    return StaffUserFactory(username=username)


def non_staff(username: str = "outsider"):
    return UserFactory(username=username)


def pay(rental: Rental, amount: Decimal, **kwargs) -> Payment:
    """A PAID online charge, then the stored figures refreshed (as the callback does)."""
    payment = PaymentFactory(rental=rental, amount=amount, **kwargs)
    rental.refresh_financials()
    return payment


def ongoing_rental(*, vehicle, customer, start: datetime, days: int = 3, paid: Decimal | None = None) -> Rental:
    """A rental handed over at ``start`` for ``days`` days, paid in full by default."""
    rental = RentalFactory(
        vehicle=vehicle,
        customer=customer,
        start_time=start,
        end_time=start + timedelta(days=days),
        status=Rental.Status.ONGOING,
        picked_up_at=start,
    )
    amount = rental.order_total if paid is None else paid
    if amount:
        pay(rental, amount)
    vehicle.status = vehicle.Status.RENTED
    vehicle.save(update_fields=["status"])
    return rental


def admin_url(action: str, rental: Rental) -> str:
    return reverse(f"admin:rentals_rental_{action}", args=[rental.pk])


def ledger_snapshot(rental: Rental) -> tuple:
    """Everything a staff action could change, to prove that nothing did."""
    rental.refresh_from_db()
    rows = tuple(
        Payment.objects.filter(rental=rental).order_by("id").values_list("id", "status", "amount", "transaction_type")
    )
    return (
        rental.status,
        rental.amount_paid,
        rental.amount_refunded,
        rental.settlement_status,
        rental.overdue_fee,
        rental.damage_fee,
        rental.cross_location_fee,
        rental.cancellation_fee,
        rental.actual_return_time,
        type(rental.vehicle).objects.get(pk=rental.vehicle_id).status,
        rows,
        rental.events.count(),
    )
