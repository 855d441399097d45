"""Deposit holds written straight to the database for the page tests (SPEC
§18): a hold, its takes (CHARGE rows linked to it), releases and traffic
fines, with the hold's reserved amounts and the order's stored figures kept
as the flows keep them."""

import itertools
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from accounts.models import DepositHold, HoldRelease, Payment, TakeReason, TrafficFine
from rentals.models import Rental
from rentals.tests.factories import RentalFactory

_numbers = itertools.count(1)


def held_rental(*, mode: str = Rental.DepositMode.HOLD, **kwargs) -> Rental:
    rental = RentalFactory(**kwargs)
    rental.deposit_mode = mode
    rental.save(update_fields=["deposit_mode"])
    return rental


def make_hold(
    rental: Rental,
    *,
    status: str = DepositHold.Status.HELD,
    provider: str = "alipay",
    amount: Decimal | None = None,
    release_after: datetime | None = None,
    expires_at: datetime | None = None,
    failure_reason: str = "",
) -> DepositHold:
    hold = DepositHold.objects.create(
        rental=rental,
        user=rental.customer.user,
        provider=provider,
        payment_method=Payment.Method.WECHAT if provider == "wechatpay" else Payment.Method.ALIPAY,
        amount=amount if amount is not None else rental.deposit + Decimal("2000.00"),
        transaction_id=f"HLD{next(_numbers):010d}",
        provider_reference=f"AUTH{rental.pk:08d}",
        status=status,
        held_at=timezone.now() if status in (DepositHold.Status.HELD, DepositHold.Status.RELEASED) else None,
        release_after=release_after,
        expires_at=expires_at,
        failure_reason=failure_reason,
    )
    rental.refresh_financials()
    return hold


def take(
    hold: DepositHold,
    amount: Decimal,
    reason: str = TakeReason.RETURN_FEES,
    *,
    status: str = Payment.Status.PAID,
    fine_reference: str = "",
) -> Payment:
    """A take from ``hold`` (a CHARGE row linked to it); with ``fine_reference``
    the traffic fine it pays for."""
    payment = Payment.objects.create(
        rental=hold.rental,
        user=hold.rental.customer.user,
        amount=amount,
        payment_method=hold.payment_method,
        transaction_type=Payment.TransactionType.CHARGE,
        status=status,
        transaction_id=f"PAYHT{next(_numbers):010d}",
        provider=hold.provider,
        paid_at=timezone.now() if status == Payment.Status.PAID else None,
        hold=hold,
        take_reason=reason,
    )
    DepositHold.objects.filter(pk=hold.pk).update(captured_amount=hold.captured_amount + amount)
    hold.refresh_from_db()
    if fine_reference:
        TrafficFine.objects.create(rental=hold.rental, hold=hold, take=payment, amount=amount, reference=fine_reference)
    hold.rental.refresh_financials()
    return payment


def release(
    hold: DepositHold, amount: Decimal, *, status: str = HoldRelease.Status.DONE, close: bool = False
) -> HoldRelease:
    row = HoldRelease.objects.create(
        hold=hold,
        request_id=f"HLR{next(_numbers):010d}",
        amount=amount,
        status=status,
        reason="return",
        confirmed_at=timezone.now() if status == HoldRelease.Status.DONE else None,
    )
    changes = {"released_amount": hold.released_amount + amount}
    if close:
        changes["status"] = DepositHold.Status.RELEASED
    DepositHold.objects.filter(pk=hold.pk).update(**changes)
    hold.refresh_from_db()
    hold.rental.refresh_financials()
    return row
