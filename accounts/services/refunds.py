"""Refunding what an order no longer owes (SPEC §4, §11): the refund rows, issuing them, what is due back, and a refund's confirmed or failed outcome."""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import providers, selectors
from accounts.exceptions import RefundError
from accounts.models import Notification, Payment, PaymentEvent
from accounts.services.ledger import new_transaction_id, transition_payment
from accounts.services.notices import build_notice, payment_note, refund_notice
from accounts.wording import Words
from car_rental_system import bounds
from car_rental_system.money import ZERO, format_cny, quantize_money
from rentals.locks import lock_rental
from rentals.models import Rental, RentalEvent

logger = logging.getLogger(__name__)


def refund_provider_for(charge_provider: str) -> str:
    """Who gives a charge's money back: its provider when it is one we ask
    (the refund then waits for its word, SPEC §11), else we do (``internal``:
    cash, the counter, staff)."""
    return charge_provider if providers.is_online(charge_provider) else Payment.INTERNAL_PROVIDER


def build_refund_rows(
    *,
    rental_id: int,
    amount: Decimal,
    user_id: int | None,
    method: str,
    description: "str | Words",
    now: datetime,
    refund_of_id: int | None = None,
    goodwill_amount: Decimal = ZERO,
    event: str = "refund_issued",
    actor: Any = None,
    payload: dict | None = None,
    provider: str = Payment.INTERNAL_PROVIDER,
) -> tuple[Payment, PaymentEvent, Notification | None]:
    """The rows one refund consists of, unsaved: the ledger row, its audit row
    and the receiver's notice (None without a user). ``issue_refund`` saves
    them one by one; the batch job (``rentals.ops``) bulk-inserts many.
    ``description`` is the refund's note: ``Words`` (stored as code and params,
    shown in the reader's language) or plain text (stored and shown as is).

    An ``internal`` refund is REFUNDED at once and its notice is REFUND_ISSUED.
    One through an online provider is PENDING (SPEC §11): the provider is
    asked after commit (``enqueue_refund``) and the customer is told when it
    confirms, so there is no notice yet.
    """
    words = description if isinstance(description, Words) else None
    note = payment_note(words) if words else {"description": str(description)[:255]}
    text = note["description"]
    online = provider != Payment.INTERNAL_PROVIDER
    status = Payment.Status.PENDING if online else Payment.Status.REFUNDED
    refund = Payment(
        rental_id=rental_id,
        user_id=user_id,
        amount=amount,
        refund_of_id=refund_of_id,
        goodwill_amount=goodwill_amount,
        payment_method=method,
        transaction_type=Payment.TransactionType.REFUND,
        status=status,
        transaction_id=new_transaction_id("REF"),
        provider=provider,
        **note,
        paid_at=None if online else now,
        created_at=now,
    )
    audit = PaymentEvent(
        payment=refund,
        rental_id=rental_id,
        event="refund_requested" if online and event == "refund_issued" else event,
        to_status=status,
        provider=refund.provider,
        actor=actor if getattr(actor, "pk", None) else None,
        payload={"amount": str(amount), "description": text, **(payload or {})},
        created_at=now,
    )
    return refund, audit, _notice_of(refund, text=text, words=words, now=now)


def _notice_of(refund: Payment, *, text: str, words: Words | None, now: datetime) -> Notification | None:
    """REFUND_ISSUED for a refund given back at once; an online one's notice
    waits for its provider's word (SPEC §11); none without a receiver."""
    if refund.user_id is None or refund.status != Payment.Status.REFUNDED:
        return None
    return refund_notice(
        user_id=refund.user_id,
        rental_id=refund.rental_id,
        amount=refund.amount,
        method=refund.payment_method,
        description=text,
        code=words.code if words else "",
        params=words.params if words else {},
        now=now,
    )


def enqueue_refund(refund_id: int) -> None:
    """Ask the provider for this refund once the current transaction commits
    (never inside it: a rolled-back refund must not reach the provider)."""
    from accounts.services.provider_refunds import send_refund  # it imports this module
    from car_rental_system import jobs

    jobs.after_commit("accounts.tasks.send_refund", refund_id, run_now=lambda: send_refund(refund_id=refund_id))


def issue_refund(
    *,
    rental: Rental,
    amount: Decimal,
    user: Any,
    description: "str | Words",
    method: str | None = None,
    refund_of_id: int | None = None,
    goodwill_amount: Decimal = ZERO,
    actor: Any = None,
    event: str = "refund_issued",
    payload: dict | None = None,
    provider: str | None = None,
) -> Payment:
    """Write one REFUND row on a rental the caller has locked.

    ``refund_of_id`` is the charge whose money it gives back; ``goodwill_amount``
    the part of it above what was due (staff refunds). ``provider`` None → the
    charge's provider when it is an online one, else ``internal``. An internal
    refund is REFUNDED at once and notifies the receiving user; an online one
    is PENDING and its provider is asked after commit (SPEC §11). Refuses to
    give back more than net paid less what is already in flight. The caller
    refreshes the rental's financials.
    """
    amount = bounds.clean_money(amount, error=RefundError)
    if amount <= ZERO:
        raise RefundError(_("A refund must be more than zero."), code="refund_not_positive")
    figures = rental.money_figures()
    available = quantize_money(figures.net_paid - figures.refund_in_flight)
    if amount > available:
        raise RefundError(
            _("A refund of %(amount)s would exceed the %(net)s actually paid.")
            % {"amount": format_cny(amount), "net": format_cny(available)},
            code="refund_exceeds_paid",
        )
    if provider is None:
        provider = _provider_of_charge(refund_of_id)
    if provider != Payment.INTERNAL_PROVIDER and refund_of_id is None:
        raise RefundError(_("An online refund must name the charge it gives back."), code="refund_without_charge")
    refund, audit, notice = build_refund_rows(
        rental_id=rental.pk,
        amount=amount,
        user_id=user.pk if user is not None else None,
        method=method or selectors.refund_method(rental=rental),
        description=description,
        now=timezone.now(),
        refund_of_id=refund_of_id,
        goodwill_amount=goodwill_amount,
        event=event,
        actor=actor,
        payload=payload,
        provider=provider,
    )
    refund.rental, refund.user = rental, user
    save_refund_rows([(refund, audit, notice)])
    return refund


def _provider_of_charge(charge_id: int | None) -> str:
    """Who gives back the money of charge ``charge_id`` (``internal`` for none)."""
    charge_provider = (
        Payment.objects.filter(pk=charge_id).values_list("provider", flat=True).first() if charge_id else ""
    )
    return refund_provider_for(charge_provider or "")


def save_refund_rows(rows: list[tuple[Payment, PaymentEvent, Notification | None]]) -> list[Payment]:
    """Save refunds built by ``build_refund_rows`` one by one, with their
    audit rows and notices; the online ones are sent after commit."""
    for refund, audit, notice in rows:
        refund.save()
        audit.save()
        if notice is not None:
            notice.save()
        if refund.is_in_flight:
            enqueue_refund(refund.pk)
    return [refund for refund, _audit, _notice in rows]


def refund_description(
    *,
    reason: str,
    cancel_reason: str = "",
    overdue_fee: Decimal = ZERO,
    cross_location_fee: Decimal = ZERO,
    damage_fee: Decimal = ZERO,
) -> Words:
    """The note of a refund for ``reason`` (cancellation, late_payment,
    repriced, deposit), as code and params (``accounts.wording``), so each
    reader sees it in their language. ``refund_due_rows`` and the batch job
    (``rentals.ops``) write the same note."""
    if reason == "cancellation":
        return Words("refund_cancellation", {"reason": cancel_reason})
    if reason == "late_payment":
        return Words("refund_late_payment")
    if reason == "repriced":
        return Words("refund_repriced")
    return Words(
        "refund_deposit",
        {
            "overdue_fee": str(quantize_money(overdue_fee)),
            "cross_location_fee": str(quantize_money(cross_location_fee)),
            "damage_fee": str(quantize_money(damage_fee)),
        },
    )


@dataclass
class DueRefund:
    """What ``refund_amount_due`` did: the REFUND rows written (one per charge
    the money goes back to) and what is left for staff to hand back."""

    refunds: list = field(default_factory=list)
    manual: Decimal = ZERO

    @property
    def refunded(self) -> Decimal:
        return quantize_money(sum((refund.amount for refund in self.refunds), ZERO))

    @property
    def first(self) -> Payment | None:
        return self.refunds[0] if self.refunds else None


@dataclass
class RefundPlan:
    """The unsaved rows that refund what an order is due: one (REFUND, audit
    row, notice) per charge the money goes back to, what is left for staff to
    hand back, and the "manual refund required" event when that is new."""

    rows: list = field(default_factory=list)
    manual: Decimal = ZERO
    manual_event: RentalEvent | None = None


def plan_due_refund(
    *,
    rental: Rental,
    amount: Decimal,
    reason: str,
    charges: list,
    customer_user_id: int | None,
    cancel_reason: str = "",
    recipient_id: int | None = None,
    at_counter: bool = False,
    first_charge_id: int | None = None,
    actor: Any = None,
    now: datetime,
) -> RefundPlan:
    """The refund planner of the flows and the batch job: ``amount`` spread
    over ``charges`` (``plan_refund``, SPEC §16), each part built by
    ``build_refund_rows``; what nobody can be paid now is left for staff and
    ``rental.requires_manual_refund`` set on the instance (the caller stores it)."""
    to_write, _for_staff = selectors.plan_refund(
        charges=charges,
        amount=amount,
        customer_user_id=customer_user_id,
        recipient_id=recipient_id,
        at_counter=at_counter,
        first_charge_id=first_charge_id,
    )
    description = refund_description(
        reason=reason,
        cancel_reason=cancel_reason,
        overdue_fee=rental.overdue_fee,
        cross_location_fee=rental.cross_location_fee,
        damage_fee=rental.damage_fee,
    )
    plan = RefundPlan()
    for part in to_write:
        plan.rows.append(
            build_refund_rows(
                rental_id=rental.pk,
                amount=part.amount,
                user_id=part.user_id,
                method=part.method,
                refund_of_id=part.charge_id,
                description=description,
                now=now,
                actor=actor,
                payload={"reason": reason},
                provider=refund_provider_for(part.provider),
            )
        )
    plan.manual = quantize_money(amount - sum((part.amount for part in to_write), ZERO))
    if plan.manual > ZERO and not rental.requires_manual_refund:
        rental.requires_manual_refund = True
        plan.manual_event = RentalEvent(
            rental_id=rental.pk,
            event="manual_refund_required",
            actor=actor if getattr(actor, "pk", None) else None,
            payload={"amount": str(plan.manual), "reason": reason},
            created_at=now,
        )
    return plan


@transaction.atomic
def refund_due_rows(
    *,
    rental: Rental,
    reason: str,
    recipient: Any = None,
    by_user: Any = None,
    cap: Decimal | None = None,
    charge_id: int | None = None,
) -> DueRefund:
    """Refund what an order no longer owes (§4 ``refund_due``), once, the way
    the money came in (SPEC §16).

    The amount is recomputed from the ledger under the rental lock, so a second
    call, a rerun of a command or a concurrent flow finds nothing due and
    writes nothing. It is spread over the PAID charges that still have money
    left to give back, newest first (``charge_id`` first: a late charge gives
    back its own money), one REFUND row per charge, each going to that
    charge's payer (else the customer's user; ``recipient`` overrides both).
    Money that came in as cash goes back at the counter: unless staff
    (``by_user``) are handing it over now, it is left for them, like a part
    with nobody to pay it to; the rental is then flagged
    ``requires_manual_refund``. ``cap`` limits the refund (a late charge
    refunds at most its own amount). Locks: rental.
    """
    locked = lock_rental(rental.pk)
    amount = locked.money_figures().refund_due
    if cap is not None:
        amount = min(amount, quantize_money(cap))
    result = DueRefund()
    if amount > ZERO:
        plan = plan_due_refund(
            rental=locked,
            amount=amount,
            reason=reason,
            charges=selectors.refundable_charges(rental=locked),
            customer_user_id=locked.customer.user_id,
            cancel_reason=locked.cancel_reason,
            recipient_id=getattr(recipient, "pk", None),
            at_counter=bool(getattr(by_user, "is_staff", False)),
            first_charge_id=charge_id,
            actor=by_user,
            now=timezone.now(),
        )
        result.refunds = save_refund_rows(plan.rows)
        result.manual = plan.manual
        if plan.manual_event is not None:
            locked.save(update_fields=["requires_manual_refund", "updated_at"])
            plan.manual_event.save()
        if plan.manual > ZERO:
            logger.info("rental %s: %s is to be handed back by staff", locked.pk, format_cny(plan.manual))
    locked.refresh_financials()
    rental.copy_state_from(locked)
    return result


def refund_amount_due(
    *,
    rental: Rental,
    reason: str,
    recipient: Any = None,
    by_user: Any = None,
    cap: Decimal | None = None,
    charge_id: int | None = None,
) -> Payment | None:
    """``refund_due_rows`` for callers that want one answer: the first REFUND
    row written (the newest charge's), or None."""
    return refund_due_rows(
        rental=rental, reason=reason, recipient=recipient, by_user=by_user, cap=cap, charge_id=charge_id
    ).first


def _refund_confirmed(
    *, rental: Rental, refund: Payment, source: str, event_id: str = "", provider_reference: str = ""
) -> None:
    """The provider says the money went back: REFUNDED, figures, REFUND_ISSUED (rental and refund locked)."""
    now = timezone.now()
    transition_payment(
        payment=refund,
        to_status=Payment.Status.REFUNDED,
        event="refund_confirmed",
        payload={"event_id": event_id, "source": source},
        paid_at=now,
        provider_reference=(provider_reference or refund.provider_reference)[:100],
    )
    rental.refresh_financials()
    if refund.user_id is not None:
        refund_notice(
            user_id=refund.user_id,
            rental_id=rental.pk,
            amount=refund.amount,
            method=refund.payment_method,
            description=refund.description,
            code=refund.description_code,
            params=refund.description_params,
            now=now,
        ).save()


def _refund_failed(
    *, rental: Rental, refund: Payment, source: str, reason: str, event_id: str = "", code: str = ""
) -> None:
    """The provider refused for good: FAILED with the reason; the amount is due
    again and staff are told first (the rental's audit trail, the "refund
    failed" filter and the finance dashboard), then the refund's receiver
    gets a REFUND_DELAYED notice (SPEC §17: staff will contact them or pay it
    at the counter; the provider's reason is for staff). ``code``: the
    provider's refusal in our words (``providers.REFUND_BALANCE_SHORT``: the
    staff retry sends this row again, SPEC §17), kept in the audit row."""
    from rentals.models import RentalEvent

    transition_payment(
        payment=refund,
        to_status=Payment.Status.FAILED,
        event="refund_failed",
        payload={"event_id": event_id, "source": source, "reason": reason, **({"code": code} if code else {})},
        failure_reason=reason[:255],
    )
    rental.refresh_financials()
    RentalEvent.objects.create(
        rental=rental,
        event="refund_failed",
        payload={"transaction_id": refund.transaction_id, "amount": str(refund.amount), "reason": reason},
    )
    logger.warning("refund %s of rental %s failed: %s", refund.transaction_id, rental.pk, reason)
    if refund.user_id is not None:
        build_notice(
            user_id=refund.user_id,
            rental_id=rental.pk,
            notification_type=Notification.Type.REFUND_DELAYED,
            kind="refund_delayed",
            params={"order": rental.pk, "amount": str(refund.amount), "method": refund.payment_method},
            now=timezone.now(),
        ).save()
