"""Lost messages (SPEC §11): asking the provider about payments left in flight."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import providers
from accounts.locks import lock_payment
from accounts.models import Payment
from accounts.services.abnormal_refunds import resolution_unanswered
from accounts.services.callbacks import _apply_callback
from accounts.services.ledger import record_payment_event, transition_payment
from accounts.services.provider_refunds import apply_refund_start, send_refund
from rentals.locks import lock_rental

logger = logging.getLogger(__name__)


SYNC_AFTER_MINUTES = 5


@dataclass(frozen=True)
class SyncLine:
    """What ``sync_payments`` did (or would do) to one payment."""

    transaction_id: str
    kind: str
    answer: str
    action: str  # applied, closed, expired, resent, accepted, reopened, unavailable, none
    status: str  # the payment's status afterwards (dry run: before)


def _query_event(*, payment: Payment, answer: Any, round_: str = "") -> providers.CallbackEvent:
    return providers.CallbackEvent(
        provider=payment.provider,
        event_id=f"query:{payment.transaction_id}:{answer.status}{round_}",
        transaction_id=payment.transaction_id,
        status=answer.status,
        amount=answer.amount if answer.amount is not None else payment.amount,
        failure_reason=answer.failure_reason,
        provider_reference=answer.provider_reference,
    )


def sync_payments(*, now: datetime | None = None, dry_run: bool = False) -> list[SyncLine]:
    """Ask the providers about every online charge and refund PENDING or
    PROCESSING for more than 5 minutes and apply each answer through the
    callback's code path (PaymentEvent verdict ``queried``). A charge past its
    window that was never paid is closed at the provider first, then EXPIRED;
    a refund the provider never heard of is sent again (same REF id). A dry
    run asks and reports, and writes nothing. No lock is held across a
    provider call; each write re-checks the row under rental → payment locks.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=SYNC_AFTER_MINUTES)
    candidates = list(
        Payment.objects.filter(
            status__in=Payment.OPEN_STATUSES, created_at__lte=cutoff, provider__in=list(providers.PROVIDERS)
        )
        .order_by("pk")
        .values_list("pk", "rental_id")
    )
    lines = []
    for payment_id, rental_id in candidates:
        payment = Payment.objects.get(pk=payment_id)
        if payment.status not in Payment.OPEN_STATUSES:
            continue
        lines.append(_sync_one(payment=payment, rental_id=rental_id, now=now, dry_run=dry_run))
    return lines


def _sync_one(*, payment: Payment, rental_id: int, now: datetime, dry_run: bool) -> SyncLine:
    adapter = providers.get_provider(payment.provider)
    refund = payment.transaction_type == Payment.TransactionType.REFUND
    kind = "refund" if refund else "charge"

    def line(answer: str, action: str) -> SyncLine:
        status = payment.status if dry_run else Payment.objects.values_list("status", flat=True).get(pk=payment.pk)
        return SyncLine(payment.transaction_id, kind, answer, action, status)

    try:
        if refund:
            answer = adapter.query_refund(
                transaction_id=payment.transaction_id,
                charge_transaction_id=payment.refund_of.transaction_id if payment.refund_of else "",
            )
        else:
            answer = adapter.query_charge(transaction_id=payment.transaction_id)
    except providers.ProviderError as exc:
        logger.warning("sync_payments: %s could not be queried: %s", payment.transaction_id, exc)
        return line("", "unavailable")
    expected = providers.CallbackStatus.REFUND if refund else providers.CallbackStatus.CHARGE
    round_ = ""
    if answer.status == providers.CallbackStatus.REFUND_ABNORMAL:
        if payment.abnormal == Payment.Abnormal.REQUESTED and not dry_run:
            return line(answer.status, "reopened" if resolution_unanswered(refund_id=payment.pk, now=now) else "none")
        if payment.abnormal in (Payment.Abnormal.WAITING, Payment.Abnormal.REQUESTED):
            return line(answer.status, "none")  # known, with staff
        # Abnormal again after a resolution: a new round, not a duplicate.
        round_ = f":{payment.events.filter(event='refund_abnormal').count()}"
    if answer.status in expected:
        if not dry_run:
            _apply_callback(
                event=_query_event(payment=payment, answer=answer, round_=round_),
                payment_id=payment.pk,
                rental_id=rental_id,
                verdict="queried",
            )
        return line(answer.status, "applied")
    if refund:
        return _refund_unanswered(payment=payment, answer=answer, line=line, dry_run=dry_run)
    if payment.expires_at is not None and payment.expires_at <= now:
        return _close_expired_charge(
            adapter=adapter, payment=payment, rental_id=rental_id, answer=answer, line=line, dry_run=dry_run
        )
    return line(answer.status, "none")


def _refund_unanswered(*, payment: Payment, answer: Any, line: Any, dry_run: bool) -> SyncLine:
    """A refund the provider has no final word on yet."""
    if answer.status == providers.QueryStatus.NOT_FOUND:
        # The request never reached the provider: send it again, same idempotency key.
        if not dry_run:
            try:
                send_refund(refund_id=payment.pk)
            except providers.ProviderError as exc:
                logger.warning("sync_payments: refund %s not sent: %s", payment.transaction_id, exc)
                return line(answer.status, "unavailable")
        return line(answer.status, "resent")
    if answer.status == providers.QueryStatus.PENDING and payment.status == Payment.Status.PENDING:
        if not dry_run:
            apply_refund_start(
                refund_id=payment.pk,
                started=providers.RefundStart(succeeded=True, provider_reference=answer.provider_reference),
                provider_name=payment.provider,
            )
        return line(answer.status, "accepted")
    return line(answer.status, "none")


def _close_expired_charge(
    *, adapter: Any, payment: Payment, rental_id: int, answer: Any, line: Any, dry_run: bool
) -> SyncLine:
    """A charge past its deadline that the provider still holds open: close it there first."""
    if dry_run:
        return line(answer.status, "expired")
    try:
        closed = adapter.close_charge(transaction_id=payment.transaction_id)
    except providers.ProviderError as exc:
        logger.warning("sync_payments: charge %s could not be closed: %s", payment.transaction_id, exc)
        return line(answer.status, "unavailable")
    if closed.status in providers.CallbackStatus.CHARGE:
        # Paid (or refused) while we were asking: that answer wins.
        _apply_callback(
            event=_query_event(payment=payment, answer=closed),
            payment_id=payment.pk,
            rental_id=rental_id,
            verdict="queried",
        )
        return line(closed.status, "applied")
    _expire_closed_charge(payment_id=payment.pk, rental_id=rental_id)
    return line(closed.status, "expired")


@transaction.atomic
def _expire_closed_charge(*, payment_id: int, rental_id: int) -> None:
    lock_rental(rental_id)
    charge = lock_payment(payment_id)
    if not charge.is_open:
        return
    record_payment_event(event="charge_closed", payment=charge, payload={"source": "query"})
    transition_payment(
        payment=charge,
        to_status=Payment.Status.EXPIRED,
        event="charge_expired",
        payload={"reason": "closed at the provider after its window", "source": "query"},
        failure_reason=_("The payment window expired."),
    )
