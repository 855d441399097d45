"""Closed orders to ask an e-invoice for, built through the services: their
ledgers are what the money flows write."""

from datetime import timedelta
from decimal import Decimal

from accounts.models import Payment
from rentals.models import Rental
from rentals.services import cancel_rental, process_return
from rentals.tests.admin_support import NOW, ongoing_rental, pay
from rentals.tests.factories import RentalFactory

CREDIT_CODE = "91350100M000100Y43"


def completed_with_fees(*, vehicle, customer, staff) -> Rental:
    """¥300/day for 2 days with a ¥2,000 deposit, paid ¥2,600, returned a day
    late (overdue fee ¥450) with a ¥200 damage fee: ¥1,250 kept, the rest of
    the deposit (¥1,350) refunded."""
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(days=3), days=2)
    process_return(rental=rental, returned_at=NOW, location=vehicle.location, damage_fee=Decimal("200"), by_user=staff)
    rental.refresh_from_db()
    return rental


def cancelled_with_fee(*, vehicle, customer, staff, fee: str = "300.00") -> Rental:
    """A paid ¥2,900 booking cancelled by staff with a cancellation fee of at
    most a day's rent (the policy's fee half a day before the start): the rest
    is refunded (confirmed by the sandbox, or held when it says so)."""
    rental = RentalFactory(vehicle=vehicle, customer=customer, start_time=NOW + timedelta(hours=12))
    pay(rental, rental.order_total)
    cancel_rental(rental=rental, reason="Plans changed", by_user=staff, cancellation_fee=Decimal(fee))
    rental.refresh_from_db()
    return rental


def net_of_refunds(rental: Rental) -> Decimal:
    """Paid charges less confirmed refunds, added up here from the rows."""
    rows = Payment.objects.filter(rental=rental)
    paid = sum((p.amount for p in rows if p.transaction_type == "CHARGE" and p.status == "PAID"), Decimal("0"))
    back = sum((p.amount for p in rows if p.transaction_type == "REFUND" and p.status == "REFUNDED"), Decimal("0"))
    return paid - back


def company_form(**overrides) -> dict:
    data = {"title_type": "COMPANY", "title": "福州某某科技有限公司", "tax_id": CREDIT_CODE, "email": "fin@example.com"}
    data.update(overrides)
    return data
