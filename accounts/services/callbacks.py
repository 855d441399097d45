"""Provider callbacks (SPEC §6): verified, applied exactly once, charges and refunds settled by them."""

import logging
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import providers
from accounts.locks import lock_payment
from accounts.models import CallbackReceipt, Notification, Payment
from accounts.services.abnormal_refunds import _refund_abnormal
from accounts.services.ledger import finish_closing, record_payment_event, transition_payment
from accounts.services.notices import build_notice
from accounts.services.refunds import _refund_confirmed, _refund_failed, refund_amount_due
from car_rental_system.money import ZERO
from rentals.locks import lock_rental_row
from rentals.models import Rental

logger = logging.getLogger(__name__)


def _safe_text(value: Any, limit: int = 500) -> str:
    """Text that any database's JSON column accepts (no NUL, valid UTF-8), cut to ``limit``."""
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value[: limit * 4]).decode("utf-8", errors="replace")
    else:
        text = str(value)
    text = text[:limit].encode("utf-8", errors="replace").decode("utf-8")
    return text.replace("\x00", "\ufffd")


def _callback_verdict(
    *,
    provider: str,
    verdict: str,
    reason: str = "",
    payment: Payment | None = None,
    event: Any = None,
    extra: dict | None = None,
) -> None:
    payload = {"verdict": verdict}
    if reason:
        payload["reason"] = reason
    if event is not None:
        payload.update(
            {
                "event_id": event.event_id,
                "transaction_id": event.transaction_id,
                "status": event.status,
                "amount": str(event.amount),
            }
        )
        if event.failure_reason:
            payload["failure_reason"] = event.failure_reason
    if extra:
        payload.update(extra)
    record_payment_event(
        event="callback_received",
        payment=payment,
        provider=_safe_text(provider, 20),
        payload=payload,
    )


def _reject(
    *,
    http_status: int,
    provider: str,
    reason: str,
    detail: str = "",
    body: bytes = b"",
    event: Any = None,
) -> tuple[int, dict]:
    logger.warning(
        "payment callback rejected (%s): provider=%r reason=%s %s",
        http_status,
        _safe_text(provider, 40),
        reason,
        _safe_text(detail, 200),
    )
    extra: dict[str, Any] = {"http_status": http_status}
    if detail:
        extra["detail"] = _safe_text(detail, 200)
    if body and event is None:
        extra["body_excerpt"] = _safe_text(body, 300)
    with transaction.atomic():
        _callback_verdict(provider=provider, verdict="rejected", reason=reason, event=event, extra=extra)
    return http_status, {"status": "rejected", "reason": reason}


def handle_callback(*, provider: str, headers: Any, body: bytes) -> tuple[int, dict]:
    """Act on a provider's server-to-server callback, exactly once (SPEC §6).

    Checks, in order: known provider (404, nothing written), signature and timestamp (400), body
    (400), known transaction of this provider (404), duplicate ``event_id``
    (200, nothing changes), payment already final (200, nothing changes),
    amount equal to the charge (409, recorded), then the transition:

    - succeeded → PAID, financials refreshed, PAYMENT_SUCCESS; a success for a
      charge we had closed (EXPIRED/CANCELLED) or were closing is recorded
      too, and whatever the order can no longer use is refunded at once (at
      most this charge);
    - failed / cancelled → FAILED / CANCELLED with the reason, PAYMENT_FAILED;
      the order is payable again; for a charge we were closing it is closed:
      it becomes what it was closing as (SPEC §17).

    A refund notification (``"transaction_id": "REF…"``, status ``refunded``,
    ``refund_failed`` or ``refund_abnormal``, SPEC §11, §17) goes through the
    same checks: refunded → REFUNDED, financials refreshed, REFUND_ISSUED to
    its receiver; refused → FAILED with the reason, the amount due again,
    staff told; abnormal → still in flight, flagged for staff.

    A notice that changes nothing (``waiting``: Alipay's WAIT_BUYER_PAY) goes
    through the same checks and is recorded (verdict ``recorded``, 200).

    A callback to an unknown provider, or to one that is not usable (the
    sandbox switched off, a provider not configured), writes nothing. Every other callback writes a ``callback_received``
    PaymentEvent with its verdict;
    an accepted one also stores a CallbackReceipt (unique per provider and
    event id) so a replay is recognised even under concurrent delivery.
    Locks: rental → payment. Returns ``(http_status, json-able dict)`` and
    never raises for bad input.
    """
    try:
        adapter = providers.get_provider(provider)
        if not adapter.is_usable():  # the sandbox switched off, a provider not configured
            raise providers.UnknownProvider("provider_disabled", adapter.name)
    except providers.UnknownProvider:
        # Nothing is written: junk posted to made-up provider names must not
        # fill the audit trail nor the dashboard's rejected-callback figure.
        logger.warning("payment callback for unknown provider %r", _safe_text(provider, 40))
        return 404, {"status": "rejected", "reason": "unknown_provider"}
    if not isinstance(body, (bytes, bytearray)):
        return _reject(http_status=400, provider=adapter.name, reason="malformed_body", detail="body is not bytes")
    body = bytes(body)
    try:
        event = adapter.parse_callback(headers=headers, body=body)
    except providers.ProviderError as exc:
        return _reject(http_status=400, provider=adapter.name, reason=exc.reason, detail=exc.detail, body=body)

    found = _payment_named(event, provider=adapter.name)
    if found is None:
        return _reject(http_status=404, provider=adapter.name, reason="unknown_transaction", event=event)
    return _apply_callback(event=event, payment_id=found[0], rental_id=found[1])


def _payment_named(event: Any, *, provider: str) -> tuple[int, int] | None:
    """(payment id, rental id) of the row a callback names: a refund
    notification names a REF row, a charge callback a PAY row."""
    kind = (
        Payment.TransactionType.REFUND
        if event.status in providers.CallbackStatus.REFUND
        else Payment.TransactionType.CHARGE
    )
    return (
        Payment.objects.filter(transaction_id=event.transaction_id, transaction_type=kind, provider=provider)
        .values_list("pk", "rental_id")
        .first()
    )


@transaction.atomic
def _apply_callback(*, event: Any, payment_id: int, rental_id: int, verdict: str = "accepted") -> tuple[int, dict]:
    """The checks and the transition shared by callbacks and status queries
    (``verdict`` "queried" for the latter). Locks: rental → payment."""
    source = "query" if verdict == "queried" else "callback"
    # The rental row alone: the audit rows and the notices below need only its
    # id and figures (a notice goes to the payment's user by id).
    rental = lock_rental_row(rental_id)
    payment = lock_payment(payment_id)
    payment.rental = rental
    provider = event.provider
    answer = {"transaction_id": payment.transaction_id, "event_id": event.event_id}

    if CallbackReceipt.objects.filter(provider=provider, event_id=event.event_id).exists():
        _callback_verdict(
            provider=provider, verdict="duplicate", reason="event_already_processed", payment=payment, event=event
        )
        return 200, {**answer, "status": "duplicate", "payment_status": payment.status}
    if payment.status in Payment.FINAL_STATUSES:
        _callback_verdict(
            provider=provider, verdict="ignored", reason="payment_already_final", payment=payment, event=event
        )
        return 200, {**answer, "status": "ignored", "payment_status": payment.status}
    if event.amount != payment.amount:
        logger.warning(
            "payment callback amount mismatch: %s expected %s, got %s (event %s)",
            *(payment.transaction_id, payment.amount, event.amount, event.event_id),
        )
        _callback_verdict(
            provider=provider,
            verdict="amount_mismatch",
            reason="amount_mismatch",
            payment=payment,
            event=event,
            extra={"expected_amount": str(payment.amount)},
        )
        return 409, {**answer, "status": "amount_mismatch", "payment_status": payment.status}

    if not _store_receipt(provider=provider, event_id=event.event_id, payment_id=payment.pk):
        # Only reachable if a concurrent delivery bypassed the rental lock.
        _callback_verdict(
            provider=provider, verdict="duplicate", reason="event_already_processed", payment=payment, event=event
        )
        return 200, {**answer, "status": "duplicate", "payment_status": payment.status}
    if event.status == providers.CallbackStatus.WAITING:
        # The buyer has opened the cashier: worth keeping, nothing to change.
        _callback_verdict(provider=provider, verdict="recorded", payment=payment, event=event)
        return 200, {**answer, "status": "recorded", "payment_status": payment.status}
    _callback_verdict(provider=provider, verdict=verdict, payment=payment, event=event)

    _act_on(event=event, rental=rental, payment=payment, source=source)
    return 200, {**answer, "status": "accepted", "payment_status": payment.status}


def _store_receipt(*, provider: str, event_id: str, payment_id: int) -> bool:
    """Store the CallbackReceipt of an event; False when one already exists.

    One statement, ``INSERT … ON CONFLICT DO NOTHING`` (PostgreSQL, SQLite):
    the unique (provider, event id) constraint decides, without the savepoint
    a failed plain insert would need to leave the transaction usable."""
    meta = CallbackReceipt._meta
    created_at = meta.get_field("created_at").get_db_prep_value(timezone.now(), connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{meta.db_table}" ("provider", "event_id", "payment_id", "created_at") '
            'VALUES (%s, %s, %s, %s) ON CONFLICT ("provider", "event_id") DO NOTHING',
            [provider, event_id, payment_id, created_at],
        )
        return cursor.rowcount == 1


def _act_on(*, event: Any, rental: Rental, payment: Payment, source: str) -> None:
    """The transition an accepted callback or query answer asks for."""
    if payment.transaction_type == Payment.TransactionType.REFUND:
        if event.status == providers.CallbackStatus.REFUNDED:
            _refund_confirmed(
                rental=rental,
                refund=payment,
                source=source,
                event_id=event.event_id,
                provider_reference=event.provider_reference,
            )
        elif event.status == providers.CallbackStatus.REFUND_ABNORMAL:
            # Not a failure: the money is held at the provider, still in flight (SPEC §17).
            _refund_abnormal(
                rental=rental,
                refund=payment,
                source=source,
                event_id=event.event_id,
                reason=event.failure_reason or _("The customer's card refused the refund"),
                provider_reference=event.provider_reference,
            )
        else:
            _refund_failed(
                rental=rental,
                refund=payment,
                source=source,
                event_id=event.event_id,
                reason=event.failure_reason or _("Refused by the payment provider"),
            )
    elif event.status == providers.CallbackStatus.SUCCEEDED:
        _charge_succeeded(rental=rental, payment=payment, event=event, source=source)
    elif payment.is_open:
        _charge_failed(rental=rental, payment=payment, event=event, source=source)
    elif payment.is_closing:
        # The provider says it can't be paid: closed, as we asked (SPEC §17).
        finish_closing(charge=payment, source=source)
    # else: a failure for a charge we had already closed changes nothing.


def _charge_succeeded(*, rental: Rental, payment: Payment, event: Any, source: str = "callback") -> None:
    late = payment.is_closing or payment.status in (Payment.Status.EXPIRED, Payment.Status.CANCELLED)
    transition_payment(
        payment=payment,
        to_status=Payment.Status.PAID,
        event="late_payment_received" if late else "status_changed",
        payload={"event_id": event.event_id, "source": source},
        paid_at=timezone.now(),
        provider_reference=(event.provider_reference or payment.provider_reference)[:100],
    )
    rental.refresh_financials()
    _notify_payer(
        rental=rental,
        payment=payment,
        notification_type=Notification.Type.PAYMENT_SUCCESS,
        kind="payment_received",
        params={"order": rental.pk, "amount": str(payment.amount), "method": payment.payment_method},
    )
    # The stored sums were just refreshed from the ledger under the lock.
    if rental.stored_figures().refund_due > ZERO:
        # Money arrived that the order can't use (cancelled meanwhile, or it
        # would overpay): give back at most this charge, through the one
        # "refund what is due, once" function.
        refund_amount_due(rental=rental, reason="late_payment", cap=payment.amount, charge_id=payment.pk)


def _charge_failed(*, rental: Rental, payment: Payment, event: Any, source: str = "callback") -> None:
    if event.status == providers.CallbackStatus.CANCELLED:
        to_status = Payment.Status.CANCELLED
        reason = event.failure_reason or _("The payment was cancelled.")
    else:
        to_status = Payment.Status.FAILED
        reason = event.failure_reason or _("The payment was declined.")
    transition_payment(
        payment=payment,
        to_status=to_status,
        payload={"event_id": event.event_id, "source": source, "reason": reason},
        failure_reason=reason[:255],
    )
    _notify_payer(
        rental=rental,
        payment=payment,
        notification_type=Notification.Type.PAYMENT_FAILED,
        kind="payment_failed",
        params={
            "order": rental.pk,
            "reason": event.failure_reason or "",
            "outcome": "cancelled" if to_status == Payment.Status.CANCELLED else "declined",
        },
    )


def _notify_payer(*, rental: Rental, payment: Payment, notification_type: str, kind: str, params: dict) -> None:
    """The notice of a charge's outcome, to its payer (else the customer's user), written by id."""
    user_id = payment.user_id if payment.user_id is not None else rental.customer.user_id
    if user_id is None:
        return
    build_notice(
        user_id=user_id,
        rental_id=rental.pk,
        notification_type=notification_type,
        kind=kind,
        params=params,
        now=timezone.now(),
    ).save()
