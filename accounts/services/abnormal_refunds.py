"""Refunds a provider holds as abnormal (SPEC §17): still in flight, flagged for
staff, resolved with WeChat Pay's abnormal-refund API.

WeChat Pay reports a refund ABNORMAL when the customer's card refused the
money: it has left our account and waits in WeChat Pay's refund transit
account. The row stays PROCESSING (its amount is not due again, so no retry
can pay twice), keeps the reason and a ``refund_abnormal`` event, and shows
under the admin filter "refund abnormal" and on the finance dashboard. Staff
resolve it: to the customer's bank card (the row becomes REFUNDED when WeChat
Pay confirms) or back to our bank account (the row becomes FAILED, the amount
is due again and is handed back at the counter). Card numbers and names are
encrypted for WeChat Pay before anything else sees them, and are never
stored or logged.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts import providers
from accounts.exceptions import RefundError
from accounts.locks import lock_payment
from accounts.models import Payment
from accounts.services.ledger import _require_staff, record_payment_event, transition_payment
from accounts.services.refunds import _refund_confirmed, _refund_failed
from rentals.locks import lock_rental
from rentals.models import Rental, RentalEvent

logger = logging.getLogger(__name__)

Abnormal = Payment.Abnormal
# How long a resolution may go unanswered while the provider still says ABNORMAL.
RESOLUTION_ANSWER_MINUTES = 30
USER_BANK_CARD = "USER_BANK_CARD"
MERCHANT_BANK_CARD = "MERCHANT_BANK_CARD"


def _refund_abnormal(
    *, rental: Rental, refund: Payment, source: str, reason: str, event_id: str = "", provider_reference: str = ""
) -> None:
    """The provider holds the refund as abnormal (rental and refund locked):
    it stays in flight (PENDING → PROCESSING), records the reason and a
    ``refund_abnormal`` event and waits for staff. Nothing changes for a
    refund already waiting, or whose resolution is on its way."""
    if not refund.is_in_flight or refund.abnormal in (Abnormal.WAITING, Abnormal.REQUESTED):
        return
    fields: dict[str, Any] = {"abnormal": Abnormal.WAITING, "failure_reason": reason[:255]}
    if provider_reference:
        fields["provider_reference"] = provider_reference[:100]
    payload = {"event_id": event_id, "source": source, "reason": reason}
    if refund.status == Payment.Status.PENDING:
        transition_payment(
            payment=refund, to_status=Payment.Status.PROCESSING, event="refund_abnormal", payload=payload, **fields
        )
    else:
        for name, value in fields.items():
            setattr(refund, name, value)
        refund.save(update_fields=[*fields, "updated_at"])
        record_payment_event(event="refund_abnormal", payment=refund, payload=payload)
    rental.refresh_financials()
    logger.warning("refund %s of rental %s is abnormal at the provider: %s", refund.transaction_id, rental.pk, reason)


def request_abnormal_refund_resolution(
    *,
    refund: Payment,
    by_user: Any,
    resolution: str,
    bank_type: str = "",
    bank_account: str = "",
    real_name: str = "",
) -> Payment:
    """Staff resolve an abnormal refund: ``USER_BANK_CARD`` (with the bank
    type, card number and card holder's name) or ``MERCHANT_BANK_CARD``.

    The card number and name are encrypted for the provider here, before any
    lock or write, and only the ciphertexts go on to the job; the audit row
    keeps the resolution and the bank type, never the card or the name. The
    refund is marked as having its resolution on the way (so a second submit
    is refused) and the provider is asked after commit. Locks: rental →
    payment.
    """
    _require_staff(by_user)
    if resolution not in (USER_BANK_CARD, MERCHANT_BANK_CARD):
        raise RefundError(_("Choose how the abnormal refund is paid out."), code="bad_resolution")
    card: dict[str, str] = {}
    if resolution == USER_BANK_CARD:
        if not (bank_type and bank_account and real_name):
            raise RefundError(_("A refund to the customer's card needs the bank, card number and name."), code="card")
        try:
            adapter = providers.get_provider(refund.provider)
            card = {
                "bank_type": bank_type,
                "bank_account": adapter.encrypt_sensitive(bank_account),
                "real_name": adapter.encrypt_sensitive(real_name),
            }
        except providers.ProviderError as exc:
            raise RefundError(
                _("The card details could not be encrypted: %(reason)s") % {"reason": exc.reason}
            ) from None
    with transaction.atomic():
        lock_rental(refund.rental_id)
        locked = lock_payment(refund.pk)
        if not locked.is_abnormal:
            raise RefundError(_("This refund is not waiting for an abnormal-refund resolution."), code="not_abnormal")
        locked.abnormal = Abnormal.REQUESTED
        locked.save(update_fields=["abnormal", "updated_at"])
        record_payment_event(
            event="abnormal_refund_requested",
            payment=locked,
            actor=by_user,
            payload={"resolution": resolution, "bank_type": bank_type, "staff": by_user.get_username()},
        )
        _enqueue(locked.pk, resolution, card)
    return locked


def _enqueue(refund_id: int, resolution: str, card: dict[str, str]) -> None:
    from car_rental_system import jobs

    jobs.after_commit(
        "accounts.tasks.send_abnormal_refund",
        refund_id,
        resolution,
        card,
        run_now=lambda: send_abnormal_refund(refund_id=refund_id, resolution=resolution, card=card),
    )


def send_abnormal_refund(*, refund_id: int, resolution: str, card: dict[str, str] | None = None) -> str:
    """Ask the provider for the resolution staff chose; returns the refund's
    status afterwards. Only a refund whose resolution is on its way is sent
    (re-read under the rental → payment locks; no lock across the call).
    :class:`providers.ProviderUnavailable` propagates and changes nothing
    (the job retries); any other provider error counts as a refusal."""
    with transaction.atomic():
        rental_id = Payment.objects.filter(pk=refund_id).values_list("rental_id", flat=True).first()
        if rental_id is None:
            return "missing"
        lock_rental(rental_id)
        refund = lock_payment(refund_id)
        if not refund.is_in_flight or refund.abnormal != Abnormal.REQUESTED:
            return refund.status
        request = {
            "transaction_id": refund.transaction_id,
            "provider_reference": refund.provider_reference,
            "resolution": resolution,
            **(card or {}),
        }
        adapter = providers.get_provider(refund.provider)
    try:
        answer = adapter.apply_abnormal_refund(**request)
    except providers.ProviderUnavailable:
        raise
    except providers.ProviderError as exc:
        answer = providers.AbnormalAnswer(accepted=False, reason=str(exc)[:255])
    return _apply_answer(refund_id=refund_id, resolution=resolution, answer=answer)


@transaction.atomic
def _apply_answer(*, refund_id: int, resolution: str, answer: Any) -> str:
    """Record the provider's answer to a resolution. Locks: rental → payment."""
    rental = lock_rental(Payment.objects.values_list("rental_id", flat=True).get(pk=refund_id))
    refund = lock_payment(refund_id)
    if not refund.is_in_flight or refund.abnormal != Abnormal.REQUESTED:
        return refund.status
    payload = {"resolution": resolution, "reason": answer.reason, "status": answer.status}
    if not answer.accepted:
        # Staff see it under "refund abnormal" again and may try otherwise.
        refund.abnormal = Abnormal.WAITING
        refund.save(update_fields=["abnormal", "updated_at"])
        record_payment_event(event="abnormal_refund_refused", payment=refund, payload=payload)
        logger.warning("abnormal refund %s: resolution refused: %s", refund.transaction_id, answer.reason)
        return refund.status
    refund.abnormal = Abnormal.USER_BANK_CARD if resolution == USER_BANK_CARD else Abnormal.MERCHANT_BANK_CARD
    refund.save(update_fields=["abnormal", "updated_at"])
    record_payment_event(event="abnormal_refund_accepted", payment=refund, payload=payload)
    if resolution == MERCHANT_BANK_CARD:
        _returned_to_us(rental=rental, refund=refund)
    elif answer.status == providers.CallbackStatus.REFUNDED:
        _refund_confirmed(rental=rental, refund=refund, source="abnormal_refund")
    elif answer.status == providers.CallbackStatus.REFUND_FAILED:
        _refund_failed(rental=rental, refund=refund, source="abnormal_refund", reason=answer.reason)
    elif answer.status == providers.CallbackStatus.REFUND_ABNORMAL:
        _refund_abnormal(rental=rental, refund=refund, source="abnormal_refund", reason=answer.reason)
    # else: on its way to the customer's card; the provider's SUCCESS confirms it.
    return refund.status


@transaction.atomic
def resolution_unanswered(*, refund_id: int, now: datetime) -> bool:
    """The provider still holds the refund as abnormal although staff asked
    for a resolution ``RESOLUTION_ANSWER_MINUTES`` ago: the request never took
    (its job gave up, or ran in-process and found the provider unavailable).
    The refund goes back to staff (filter "refund abnormal") with that reason;
    a late retry of the old job finds it no longer requested and sends
    nothing. Returns whether it went back. Locks: rental → payment."""
    rental_id = Payment.objects.values_list("rental_id", flat=True).get(pk=refund_id)
    lock_rental(rental_id)
    refund = lock_payment(refund_id)
    asked = refund.events.filter(event="abnormal_refund_requested").order_by("-created_at").first()
    if refund.abnormal != Abnormal.REQUESTED or not refund.is_in_flight:
        return False
    if asked is not None and asked.created_at > now - timedelta(minutes=RESOLUTION_ANSWER_MINUTES):
        return False
    refund.abnormal = Abnormal.WAITING
    refund.save(update_fields=["abnormal", "updated_at"])
    record_payment_event(
        event="abnormal_refund_refused",
        payment=refund,
        payload={"reason": "no answer from the provider; still abnormal", "source": "query"},
    )
    return True


def _returned_to_us(*, rental: Rental, refund: Payment) -> None:
    """The money went back to our bank account: the refund is FAILED, its
    amount due again, and the order flagged for staff to hand it back at the
    counter (a manual refund)."""
    _refund_failed(
        rental=rental,
        refund=refund,
        source="abnormal_refund",
        reason=_("Returned to our bank account by the provider: hand it back at the counter."),
    )
    if not rental.requires_manual_refund:
        rental.requires_manual_refund = True
        rental.save(update_fields=["requires_manual_refund", "updated_at"])
        RentalEvent.objects.create(
            rental=rental,
            event="manual_refund_required",
            payload={"amount": str(refund.amount), "reason": "abnormal_refund_returned"},
        )
