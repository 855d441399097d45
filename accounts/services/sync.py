"""Lost messages (SPEC §11): asking the provider about payments left in flight."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import providers
from accounts.locks import lock_payment
from accounts.models import Payment
from accounts.services.abnormal_refunds import resolution_unanswered
from accounts.services.callbacks import _apply_callback
from accounts.services.closing import CLOSED_ANSWERS, _query_event, close_at_provider
from accounts.services.ledger import close_open_charge
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
    action: str  # applied, closed, closing, expired, resent, accepted, reopened, unavailable, none
    status: str  # the payment's status afterwards (dry run: before)


def sync_payments(*, now: datetime | None = None, dry_run: bool = False) -> list[SyncLine]:
    """Ask the providers about every online charge and refund PENDING or
    PROCESSING for more than 5 minutes, and every charge still closing, and
    apply each answer through the callback's code path (PaymentEvent verdict
    ``queried``). A charge past its
    window that was never paid is closed at the provider first, then EXPIRED;
    a charge left "closing" (SPEC §17) is asked to close again, and becomes
    what it was closing as, or PAID if the provider says so; a refund the
    provider never heard of is sent again (same REF id). A dry
    run asks and reports, and writes nothing. No lock is held across a
    provider call; each write re-checks the row under rental → payment locks.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=SYNC_AFTER_MINUTES)
    candidates = list(
        Payment.objects.filter(status__in=Payment.OPEN_STATUSES, provider__in=list(providers.PROVIDERS))
        .filter(Q(created_at__lte=cutoff) | ~Q(closing_as=""))  # a closing charge is asked on every run
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

    if payment.is_closing:
        return line("", "closing") if dry_run else _close_now(payment=payment, line=line)
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
    if not _start_closing(payment_id=payment.pk, rental_id=rental_id):
        return line(answer.status, "none")
    return _close_now(payment=payment, line=line, done="expired")


@transaction.atomic
def _start_closing(*, payment_id: int, rental_id: int) -> bool:
    lock_rental(rental_id)
    charge = lock_payment(payment_id)
    if not charge.is_open:
        return charge.is_closing
    close_open_charge(
        charge=charge,
        to_status=Payment.Status.EXPIRED,
        reason=_("The payment window expired."),
        payload={"source": "query"},
        ask_after_commit=False,  # asked right below
    )
    return True


def _close_now(*, payment: Payment, line: Any, done: str = "closed") -> SyncLine:
    """Ask the provider to close a closing charge and apply its answer."""
    try:
        answer = close_at_provider(payment_id=payment.pk)
    except providers.ProviderError as exc:
        logger.warning("sync_payments: charge %s could not be closed: %s", payment.transaction_id, exc)
        return line("", "unavailable")
    if answer == providers.CallbackStatus.SUCCEEDED:
        return line(answer, "applied")
    return line(answer, done if answer in CLOSED_ANSWERS else "none")
