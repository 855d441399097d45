"""Refunds the provider confirms (SPEC §11): sending a refund, recording the provider's answer, a staff retry."""

import logging
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts import providers, selectors
from accounts.exceptions import RefundError
from accounts.locks import lock_payment
from accounts.models import Payment
from accounts.services.abnormal_refunds import _refund_abnormal
from accounts.services.callbacks import handle_callback
from accounts.services.ledger import _require_staff, transition_payment
from accounts.services.refunds import _refund_confirmed, _refund_failed, enqueue_refund, issue_refund
from car_rental_system.money import ZERO
from rentals.locks import lock_rental

logger = logging.getLogger(__name__)


def send_refund(*, refund_id: int) -> str:
    """Ask the provider for an in-flight refund; returns the refund's status afterwards.

    Safe to run twice (a duplicated job, a crash after the provider answered):
    the row is re-read under the rental → payment locks and only an in-flight
    refund is sent, always with its REF transaction id as the provider's
    idempotency key, so the provider pays once. The lock is not held across
    the provider call. Accepted → PROCESSING; confirmed → REFUNDED; refused →
    FAILED with the reason. :class:`providers.ProviderUnavailable` (network,
    5xx, unverifiable answer) propagates and changes nothing: the job retries
    and ``sync_payments`` queries the refund later.
    """
    with transaction.atomic():
        rental_id = Payment.objects.filter(pk=refund_id).values_list("rental_id", flat=True).first()
        if rental_id is None:
            return "missing"
        lock_rental(rental_id)
        refund = lock_payment(refund_id)
        if not refund.is_in_flight:
            return refund.status
        request: dict[str, Any] = {
            "transaction_id": refund.transaction_id,
            "charge_transaction_id": refund.refund_of.transaction_id if refund.refund_of is not None else "",
            "amount": refund.amount,
            "reason": refund.description,
        }
        provider_name = refund.provider
    started = providers.get_provider(provider_name).start_refund(**request)
    return apply_refund_start(refund_id=refund_id, started=started, provider_name=provider_name)


def apply_refund_start(*, refund_id: int, started: Any, provider_name: str) -> str:
    """Record the provider's answer to a refund request, then deliver the
    notification it sends (in-site providers only) through ``handle_callback``."""
    with transaction.atomic():
        rental = lock_rental(Payment.objects.values_list("rental_id", flat=True).get(pk=refund_id))
        refund = lock_payment(refund_id)
        if refund.is_in_flight:
            if not started.succeeded:
                _refund_failed(
                    rental=rental,
                    refund=refund,
                    source="request",
                    reason=started.failure_reason or _("Refused by the payment provider"),
                    code=getattr(started, "failure_code", ""),
                )
            elif started.confirmed:
                _refund_confirmed(
                    rental=rental, refund=refund, source="request", provider_reference=started.provider_reference
                )
            elif started.abnormal:
                _refund_abnormal(
                    rental=rental,
                    refund=refund,
                    source="request",
                    reason=started.failure_reason or _("The customer's card refused the refund"),
                    provider_reference=started.provider_reference,
                )
            elif refund.status == Payment.Status.PENDING:
                transition_payment(
                    payment=refund,
                    to_status=Payment.Status.PROCESSING,
                    event="refund_accepted",
                    payload={"source": "request"},
                    provider_reference=started.provider_reference[:100],
                )
    if started.callback is not None:
        headers, body = started.callback
        http_status, answer = handle_callback(provider=provider_name, headers=headers, body=body)
        if http_status != 200:
            logger.warning("refund notification for payment %s answered %s: %s", refund_id, http_status, answer)
    return Payment.objects.values_list("status", flat=True).get(pk=refund_id)


@transaction.atomic
def retry_failed_refund(*, refund: Payment, by_user: Any) -> Payment:
    """Staff send a FAILED refund again, through the same provider, asked after
    commit. One refused because our merchant balance was short goes again as
    the same row under its own REF id (FAILED → PENDING, ``refund_resent``),
    as both providers ask, when all of it is still due (SPEC §17); any other is
    a new row with a new REF id for what is still due of it (at most its
    amount). Returns the row sent. Locks: rental → payment."""
    _require_staff(by_user)
    locked = lock_rental(refund.rental_id)
    failed = lock_payment(refund.pk)
    if failed.transaction_type != Payment.TransactionType.REFUND or failed.status != Payment.Status.FAILED:
        raise RefundError(_("Only a failed refund can be sent again."), code="not_failed")
    if failed.abnormal == Payment.Abnormal.MERCHANT_BANK_CARD:
        raise RefundError(
            _("The provider returned this refund to our bank account: hand it back at the counter."),
            code="returned_to_merchant",
        )
    charges = {c.charge_id: c for c in selectors.refundable_charges(rental=locked)}
    left = charges[failed.refund_of_id].left if failed.refund_of_id in charges else ZERO
    amount = min(failed.amount, locked.money_figures().refund_due, left)
    if amount <= ZERO:
        raise RefundError(_("Nothing of this refund is due any more."), code="nothing_due")
    if amount == failed.amount and refused_for_balance(failed):
        return _resend(rental=locked, refund=failed, by_user=by_user)
    retry = issue_refund(
        rental=locked,
        amount=amount,
        user=failed.user,
        method=failed.payment_method,
        refund_of_id=failed.refund_of_id,
        description=failed.description,
        actor=by_user,
        event="refund_retried",
        payload={"retry_of": failed.transaction_id, "staff": by_user.get_username()},
    )
    locked.refresh_financials()
    return retry


def refused_for_balance(refund: Payment) -> bool:
    """Whether this FAILED refund's last refusal was for our merchant balance
    (``providers.REFUND_BALANCE_SHORT`` in its ``refund_failed`` audit row)."""
    payload = (
        refund.events.filter(event="refund_failed").order_by("-created_at", "-pk").values_list("payload", flat=True)
    ).first()
    return isinstance(payload, dict) and payload.get("code") == providers.REFUND_BALANCE_SHORT


def _resend(*, rental: Any, refund: Payment, by_user: Any) -> Payment:
    """The same refund row asked again under its own REF id (rental and refund locked)."""
    transition_payment(
        payment=refund,
        to_status=Payment.Status.PENDING,
        event="refund_resent",
        actor=by_user,
        payload={"reason": refund.failure_reason, "staff": by_user.get_username()},
        failure_reason="",
    )
    rental.refresh_financials()
    enqueue_refund(refund.pk)
    return refund
