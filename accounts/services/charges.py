"""Customer payments online (SPEC §5): opening or reusing a charge, the provider's pay page, expiring stale charges."""

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import providers, selectors
from accounts.exceptions import AmountChanged, NotPayable, PaymentError
from accounts.locks import lock_open_charges, lock_payment
from accounts.models import Payment
from accounts.services.ledger import close_open_charge, new_transaction_id, record_payment_event
from accounts.services.notices import payment_note
from accounts.wording import Words
from car_rental_system import bounds
from car_rental_system.money import ZERO, format_cny, quantize_money
from rentals.locks import lock_rental
from rentals.models import Rental

logger = logging.getLogger(__name__)


ONLINE_METHODS = (Payment.Method.ALIPAY, Payment.Method.WECHAT, Payment.Method.BANK)


def _assert_payable(rental: Rental, user: Any) -> None:
    if user is None or not getattr(user, "pk", None) or rental.customer.user_id != user.pk:
        raise NotPayable(_("Only the customer of this order can pay for it."), code="not_owner")
    if rental.status not in selectors.PAYABLE_STATUSES:
        raise NotPayable(
            _("An order that is %(status)s can't be paid.") % {"status": rental.get_status_display()},
            code="status_not_payable",
        )


def _close_stale_charge(charge: Payment, *, now: datetime, reason: str, actor: Any) -> None:
    """An open charge that can't be reused: past its window → EXPIRED, else
    CANCELLED, each once its provider has closed it (SPEC §17)."""
    if charge.expires_at is not None and charge.expires_at <= now:
        close_open_charge(
            charge=charge,
            to_status=Payment.Status.EXPIRED,
            actor=actor,
            reason=_("The payment window expired."),
        )
    else:
        close_open_charge(charge=charge, to_status=Payment.Status.CANCELLED, actor=actor, reason=reason)


@transaction.atomic
def _open_charge_for(
    *, rental_id: int, method: str, user: Any, expected_amount: Decimal | None, provider_name: str
) -> Payment:
    """Reuse or create the one open charge of a rental. Locks: rental → payments."""
    locked = lock_rental(rental_id)
    _assert_payable(locked, user)
    remaining = locked.money_figures().remaining
    if expected_amount is not None and quantize_money(expected_amount) != remaining:
        raise AmountChanged(
            _(
                "The amount due has changed to %(amount)s since the page was shown. Nothing was charged; please check and pay again."
            )
            % {"amount": format_cny(remaining)},
            code="amount_changed",
            params={"remaining": remaining},
        )
    if remaining <= ZERO:
        raise NotPayable(_("This order owes nothing."), code="nothing_owed")

    now = timezone.now()
    for charge in lock_open_charges(locked.pk):
        reusable = (
            charge.amount == remaining
            and charge.payment_method == method
            and charge.provider == provider_name
            and charge.user_id == user.pk
            and (charge.expires_at is None or charge.expires_at > now)
        )
        if reusable:
            # A double submit (or a second tab): the customer finishes the same charge.
            return charge
        # The amount owed or the method changed since this charge was opened
        # (e.g. a counter payment): it must not be completed as it stands.
        _close_stale_charge(charge, now=now, reason=_("Replaced by a new payment attempt"), actor=user)

    return _new_charge(rental=locked, user=user, amount=remaining, method=method, provider_name=provider_name, now=now)


def _new_charge(
    *, rental: Rental, user: Any, amount: Decimal, method: str, provider_name: str, now: datetime
) -> Payment:
    """The one open charge of a locked rental, created with its audit row."""
    try:
        with transaction.atomic():
            charge = Payment.objects.create(
                rental=rental,
                user=user,
                amount=amount,
                payment_method=method,
                transaction_type=Payment.TransactionType.CHARGE,
                status=Payment.Status.PENDING,
                transaction_id=new_transaction_id("PAY"),
                provider=provider_name,
                **payment_note(Words("order", {"order": rental.pk})),
                expires_at=now + timedelta(minutes=settings.PAYMENT_TTL_MINUTES),
            )
    except IntegrityError:
        # Another flow opened a charge without going through the rental lock;
        # the partial unique index kept the rule, so use what is there.
        existing = selectors.open_charge(rental=rental)
        if existing is not None and existing.amount == amount:
            return existing
        raise PaymentError(_("Another payment is in progress; please try again."), code="charge_conflict") from None
    record_payment_event(
        event="created",
        payment=charge,
        to_status=Payment.Status.PENDING,
        actor=user,
        payload={
            "amount": str(charge.amount),
            "method": method,
            "expires_at": charge.expires_at.isoformat() if charge.expires_at else "",
        },
    )
    return charge


def start_payment(
    *,
    rental: Rental,
    method: str,
    user: Any,
    expected_amount: Decimal | None = None,
    mobile: bool = False,
) -> Payment:
    """Open (or reuse) the customer's online charge for what the order still owes (SPEC §5).

    The amount is the order's ``remaining``, computed here under the rental
    lock; ``expected_amount`` is what the page showed, and if it differs
    :class:`AmountChanged` is raised and nothing is charged. Allowed to the
    order's own customer while the order is PENDING, ONGOING, OVERDUE or
    COMPLETED and owes something. A double submit returns the same open charge;
    an open charge for a stale amount or another method is closed and replaced.

    Locks rental → payments in a short transaction that commits before the
    provider is asked for the redirect (never hold a lock across a network
    call). Returns the PENDING charge with ``redirect_url`` set.
    """
    if method not in ONLINE_METHODS:
        raise PaymentError(_("Please choose Alipay, WeChat Pay or a bank card."), code="bad_method")
    if expected_amount is not None:
        expected_amount = bounds.clean_money(expected_amount, error=PaymentError)
    provider = providers.provider_for_method(method)
    charge = _open_charge_for(
        rental_id=rental.pk,
        method=method,
        user=user,
        expected_amount=expected_amount,
        provider_name=provider.name,
    )
    try:
        started = provider.start_charge(
            transaction_id=charge.transaction_id,
            amount=charge.amount,
            method=charge.payment_method,
            description=charge.description,
            return_url=reverse("payments:return", args=[charge.transaction_id]),
            mobile=mobile,
            expires_at=charge.expires_at,
        )
    except providers.ProviderError as exc:
        # The charge stays PENDING and simply expires; the customer may retry.
        logger.warning("provider %s could not start charge %s: %s", provider.name, charge.transaction_id, exc)
        raise PaymentError(
            _("The payment service is not available right now; please try again."), code="provider_unavailable"
        ) from None
    if started.provider_reference and started.provider_reference != charge.provider_reference:
        Payment.objects.filter(pk=charge.pk).update(provider_reference=started.provider_reference[:100])
        charge.provider_reference = started.provider_reference[:100]
    charge.redirect_url = started.redirect_url  # type: ignore[attr-defined]
    charge.code_url = started.code_url  # type: ignore[attr-defined]
    return charge


def payment_redirect_url(charge: Payment, *, mobile: bool = False) -> str:
    """Where to send the browser to finish an open charge (no database writes)."""
    provider = providers.get_provider(charge.provider)
    return provider.start_charge(
        transaction_id=charge.transaction_id,
        amount=charge.amount,
        method=charge.payment_method,
        description=charge.description,
        return_url=reverse("payments:return", args=[charge.transaction_id]),
        mobile=mobile,
        expires_at=charge.expires_at,
    ).redirect_url


def expire_stale_payments(now: datetime | None = None) -> list[str]:
    """Expire PENDING charges whose window has passed (SPEC §6, §17).

    Each charge is closed in its own short transaction (locks rental →
    payment) and re-checked under the lock, so the function is idempotent and
    safe to run from cron while callbacks arrive. An online charge is closed
    at its provider after commit and becomes EXPIRED then (until then it is
    "closing", and ``sync_payments`` keeps asking); a provider that says it
    was paid makes it PAID. Returns the transaction ids it expired or sent
    to be closed.
    """
    now = now or timezone.now()
    candidates = list(
        Payment.objects.filter(
            transaction_type=Payment.TransactionType.CHARGE,
            status=Payment.Status.PENDING,
            closing_as="",
            expires_at__lte=now,
        )
        .order_by("expires_at", "pk")
        .values_list("pk", "rental_id")
    )
    expired = []
    for payment_id, rental_id in candidates:
        with transaction.atomic():
            lock_rental(rental_id)
            charge = lock_payment(payment_id)
            if not charge.is_open or charge.status != Payment.Status.PENDING:
                continue
            if charge.expires_at is None or charge.expires_at > now:
                continue
            close_open_charge(
                charge=charge,
                to_status=Payment.Status.EXPIRED,
                reason=_("The payment window expired."),
                payload={"expires_at": charge.expires_at.isoformat()},
            )
            expired.append(charge.transaction_id)
    return expired
