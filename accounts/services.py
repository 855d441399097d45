"""Writes to the payment ledger, its audit trail and notifications.

Every function here that changes money runs in ``transaction.atomic`` with the
rental row locked before any amount is read (lock order: customer → vehicle →
rental → payment, see ``rentals/locks.py``), writes its audit row in the same
transaction, and leaves the rental's stored figures equal to the ledger.
"""

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import providers, selectors
from accounts.exceptions import AmountChanged, InvalidPaymentTransition, NotPayable, PaymentError, RefundError
from accounts.locks import lock_open_charges, lock_payment
from accounts.models import CallbackReceipt, Notification, Payment, PaymentEvent
from accounts.wording import Words, notice_in_default_language
from car_rental_system import bounds
from car_rental_system.money import ZERO, format_cny, quantize_money
from rentals.locks import lock_rental
from rentals.models import Rental, RentalEvent

logger = logging.getLogger(__name__)


# --- building blocks ------------------------------------------------------------


def new_transaction_id(prefix: str) -> str:
    """``PAY…``/``REF…`` + UTC timestamp + 40 random bits: sortable for people,
    unguessable and collision-free without relying on the clock alone."""
    return f"{prefix}{timezone.now():%Y%m%d%H%M%S}{secrets.token_hex(5).upper()}"


def record_payment_event(
    *,
    event: str,
    payment: Payment | None = None,
    rental: Rental | None = None,
    from_status: str = "",
    to_status: str = "",
    provider: str = "",
    actor: Any = None,
    payload: dict | None = None,
) -> PaymentEvent:
    if rental is None and payment is not None:
        rental = payment.rental
    return PaymentEvent.objects.create(
        payment=payment,
        rental=rental,
        event=event,
        from_status=from_status,
        to_status=to_status,
        provider=provider or (payment.provider if payment else ""),
        actor=actor if getattr(actor, "pk", None) else None,
        payload=payload or {},
    )


def notify(
    *,
    user: Any,
    notification_type: str,
    kind: str = "",
    params: dict | None = None,
    title: str = "",
    message: str = "",
    rental: Rental | None = None,
) -> Notification | None:
    """Write an in-app notification; customers without a login get none.

    ``kind`` and ``params`` say what happened (``accounts.wording``): pages
    show it in the reader's language, and ``title``/``message`` are stored in
    the default language. Without a kind the given title and message are
    stored and shown as they are."""
    if user is None:
        return None
    params = params or {}
    if kind:
        title, message = notice_in_default_language(kind, params)
    return Notification.objects.create(
        user=user,
        rental=rental,
        notification_type=notification_type,
        kind=kind,
        params=params,
        title=title,
        message=message,
    )


def payment_note(words: Words) -> dict:
    """The Payment fields of a note: its code and params, and its words in the default language."""
    return {
        "description": words.in_default_language()[:255],
        "description_code": words.code,
        "description_params": words.params,
    }


def transition_payment(
    *,
    payment: Payment,
    to_status: str,
    event: str = "status_changed",
    actor: Any = None,
    payload: dict | None = None,
    **fields: Any,
) -> Payment:
    """Move a (locked) payment along its transition table and audit the move."""
    if not payment.can_transition_to(to_status):
        raise InvalidPaymentTransition(
            _("Payment %(tx)s cannot go from %(from)s to %(to)s.")
            % {"tx": payment.transaction_id, "from": payment.status, "to": to_status},
            code="invalid_payment_transition",
        )
    from_status = payment.status
    payment.status = to_status
    for name, value in fields.items():
        setattr(payment, name, value)
    payment.save(update_fields=["status", *fields.keys(), "updated_at"])
    record_payment_event(
        event=event,
        payment=payment,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        payload=payload,
    )
    return payment


def cancel_open_charges(*, rental: Rental, reason: str, actor: Any = None) -> list[Payment]:
    """Close every charge the customer could still complete (rental already locked).

    A provider may still report success for one of them later; handle_callback
    then records the money and refunds what the order can't use.
    """
    charges = lock_open_charges(rental.pk)
    for charge in charges:
        transition_payment(
            payment=charge,
            to_status=Payment.Status.CANCELLED,
            event="charge_cancelled",
            actor=actor,
            payload={"reason": reason},
            failure_reason=reason[:255],
        )
    return charges


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
    notice = None
    if user_id is not None and not online:
        notice = refund_notice(
            user_id=user_id,
            rental_id=rental_id,
            amount=amount,
            method=method,
            description=text,
            code=words.code if words else "",
            params=words.params if words else {},
            now=now,
        )
    return refund, audit, notice


def refund_notice(
    *,
    user_id: int,
    rental_id: int,
    amount: Decimal,
    method: str,
    description: str,
    code: str = "",
    params: dict | None = None,
    now: datetime,
) -> Notification:
    """The REFUND_ISSUED notice (unsaved), sent when the money has gone back:
    stored as what happened (kind and params) and rendered in the reader's
    language; ``code``/``params`` are the refund's note, ``description`` its
    words in the default language."""
    params = {
        "order": rental_id,
        "amount": str(amount),
        "method": method,
        "code": code,
        "params": params or {},
        "description": description,
    }
    title, message = notice_in_default_language("refund_issued", params)
    return Notification(
        user_id=user_id,
        rental_id=rental_id,
        notification_type=Notification.Type.REFUND_ISSUED,
        kind="refund_issued",
        params=params,
        title=title,
        message=message,
        created_at=now,
    )


def enqueue_refund(refund_id: int) -> None:
    """Ask the provider for this refund once the current transaction commits
    (never inside it: a rolled-back refund must not reach the provider)."""
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
    amount = quantize_money(amount)
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
        charge_provider = (
            Payment.objects.filter(pk=refund_of_id).values_list("provider", flat=True).first() if refund_of_id else ""
        )
        provider = refund_provider_for(charge_provider or "")
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
    refund.save()
    audit.save()
    if notice is not None:
        notice.save()
    if refund.is_in_flight:
        enqueue_refund(refund.pk)
    return refund


# --- refunding what an order no longer owes ------------------------------------------


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
    from django.contrib.auth import get_user_model

    locked = lock_rental(rental.pk)
    amount = locked.money_figures().refund_due
    if cap is not None:
        amount = min(amount, quantize_money(cap))
    result = DueRefund()
    if amount > ZERO:
        to_write, _for_staff = selectors.plan_refund(
            charges=selectors.refundable_charges(rental=locked),
            amount=amount,
            customer_user_id=locked.customer.user_id,
            recipient_id=getattr(recipient, "pk", None),
            at_counter=bool(getattr(by_user, "is_staff", False)),
            first_charge_id=charge_id,
        )
        users = get_user_model().objects.in_bulk({part.user_id for part in to_write})
        for part in to_write:
            result.refunds.append(
                issue_refund(
                    rental=locked,
                    amount=part.amount,
                    user=users[part.user_id],
                    method=part.method,
                    refund_of_id=part.charge_id,
                    provider=refund_provider_for(part.provider),
                    description=refund_description(
                        reason=reason,
                        cancel_reason=locked.cancel_reason,
                        overdue_fee=locked.overdue_fee,
                        cross_location_fee=locked.cross_location_fee,
                        damage_fee=locked.damage_fee,
                    ),
                    actor=by_user,
                    payload={"reason": reason},
                )
            )
        result.manual = quantize_money(amount - result.refunded)
        if result.manual > ZERO:
            if not locked.requires_manual_refund:
                locked.requires_manual_refund = True
                locked.save(update_fields=["requires_manual_refund", "updated_at"])
                RentalEvent.objects.create(
                    rental=locked,
                    event="manual_refund_required",
                    actor=by_user if getattr(by_user, "pk", None) else None,
                    payload={"amount": str(result.manual), "reason": reason},
                )
            logger.info("rental %s: %s is to be handed back by staff", locked.pk, format_cny(result.manual))
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


# --- staff flows ----------------------------------------------------------------


def _require_staff(by_user: Any) -> None:
    if by_user is None or not getattr(by_user, "is_staff", False):
        raise PaymentError(_("Only staff can do this."), code="staff_only")


COUNTER_METHODS = (Payment.Method.CASH, Payment.Method.BANK)


@transaction.atomic
def record_counter_payment(*, rental: Rental, amount: Decimal, method: str, by_user: Any) -> Payment:
    """Staff takes cash or a card-terminal payment: a PAID charge at once.

    At most the remaining amount. Open online charges are cancelled first so a
    late provider success can't make the order pay twice (it is then refunded).
    The charge's user is the customer's user (None for a walk-in); the staff
    member is the event's actor. Locks: rental → payments.
    """
    _require_staff(by_user)
    amount = quantize_money(amount)
    if method not in COUNTER_METHODS:
        raise PaymentError(_("At the counter you can take cash or a bank card."), code="bad_method")
    if amount <= ZERO:
        raise PaymentError(_("The amount must be more than zero."), code="amount_not_positive")
    if bounds.exceeds_max_order_total(amount):
        raise PaymentError(bounds.amount_too_large_message(_("counter payment")), code="amount_too_large")
    locked = lock_rental(rental.pk)
    remaining = locked.money_figures().remaining
    if remaining <= ZERO:
        raise PaymentError(_("This order owes nothing."), code="nothing_owed")
    if amount > remaining:
        raise PaymentError(
            _("The amount %(amount)s is more than the %(remaining)s still owed.")
            % {"amount": format_cny(amount), "remaining": format_cny(remaining)},
            code="amount_exceeds_remaining",
        )
    cancel_open_charges(rental=locked, reason=_("Paid at the counter"), actor=by_user)
    now = timezone.now()
    charge = Payment.objects.create(
        rental=locked,
        user=locked.customer.user,
        amount=amount,
        payment_method=method,
        transaction_type=Payment.TransactionType.CHARGE,
        status=Payment.Status.PAID,
        transaction_id=new_transaction_id("PAY"),
        provider="counter",
        **payment_note(Words("counter_payment")),
        paid_at=now,
    )
    record_payment_event(
        event="counter_payment",
        payment=charge,
        to_status=Payment.Status.PAID,
        actor=by_user,
        payload={"amount": str(amount), "method": method, "staff": by_user.get_username()},
    )
    locked.refresh_financials()
    notify(
        user=locked.customer.user,
        rental=locked,
        notification_type=Notification.Type.PAYMENT_SUCCESS,
        kind="counter_payment_received",
        params={"order": locked.pk, "amount": str(amount)},
    )
    rental.refresh_from_db()
    return charge


@transaction.atomic
def record_manual_refund(
    *, rental: Rental, amount: Decimal, reason: str, by_user: Any, user: Any = None, method: str | None = None
) -> Payment:
    """Staff gives money back by hand: at most net paid, with a reason.

    Used for goodwill refunds and for orders flagged ``requires_manual_refund``
    (nobody to refund automatically, or cash to hand back at the counter).
    The part above what is due (``refund_due``) is goodwill (SPEC §16): it is
    kept on the refund row and lowers what the order owes, so it never turns
    into a debt and a settled order stays settled. ``user`` receives it; None
    → the payer of the newest charge with money left, else the customer's user
    (nobody for a walk-in paid back in cash). ``method`` None → that charge's
    method. Locks: rental.
    """
    _require_staff(by_user)
    reason = (reason or "").strip()
    if not reason:
        raise RefundError(_("Please give a reason for the refund."), code="reason_required")
    if bounds.exceeds_max_order_total(amount):
        raise RefundError(bounds.amount_too_large_message(_("refund")), code="amount_too_large")
    locked = lock_rental(rental.pk)
    amount = quantize_money(amount)
    goodwill = max(ZERO, quantize_money(amount - locked.money_figures().refund_due))
    charges = selectors.refundable_charges(rental=locked)
    # Tie the row to the newest charge it fits in, when it is handed back that way.
    charge = next((c for c in charges if c.left >= amount and method in (None, c.method)), None)
    recipient = user if user is not None else selectors.refund_recipient(rental=locked)
    refund = issue_refund(
        rental=locked,
        amount=amount,
        user=recipient,
        method=method or (charges[0].method if charges else None),
        refund_of_id=charge.charge_id if charge else None,
        goodwill_amount=goodwill,
        provider=Payment.INTERNAL_PROVIDER,
        description=Words("manual_refund", {"reason": reason}),
        actor=by_user,
        event="manual_refund",
        payload={"reason": reason, "staff": by_user.get_username(), "goodwill": str(goodwill)},
    )
    locked.refresh_financials()
    rental.refresh_from_db()
    return refund


# --- registration, reviews and notifications ---------------------------------------


@transaction.atomic
def register_customer(
    *,
    username: str,
    password: str,
    name: str,
    phone: str,
    email: str = "",
    id_card_number: str = "",
    driver_license_number: str = "",
) -> Any:
    """Create a login and its Customer profile (member level REGULAR) together;
    either both exist afterwards or neither. Returns the Customer. A username
    taken in any case raises ValidationError on ``username``; the database
    decides, so concurrent sign-ups can't both win."""
    from django.contrib.auth import get_user_model

    from customers.models import Customer

    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(username=username, password=password, email=email or "")
    except IntegrityError:
        # The database's unique index on LOWER(username) (SPEC §16 Identity):
        # a concurrent sign-up took this name, in some case, first.
        raise ValidationError(
            {"username": ValidationError(_("This username is already taken."), code="username_taken")}
        ) from None
    return Customer.objects.create(
        user=user,
        name=name,
        phone=phone,
        id_card_number=id_card_number or "",
        driver_license_number=driver_license_number or "",
    )


@transaction.atomic
def create_review(*, rental: Rental, rating: int, comment: str = "", by_user: Any = None) -> Any:
    """One review per completed rental, by its customer. Locks: rental (so two
    submits of the same form can't both pass the "no review yet" check)."""
    from django.core.exceptions import ValidationError

    from accounts.models import Review

    locked = lock_rental(rental.pk)
    if by_user is not None and locked.customer.user_id != by_user.pk:
        raise ValidationError(_("You can only review your own orders."), code="not_owner")
    if locked.status != Rental.Status.COMPLETED:
        raise ValidationError(_("You can review an order once the car has been returned."), code="not_completed")
    if Review.objects.filter(rental=locked).exists():
        raise ValidationError(_("You have already reviewed this order."), code="already_reviewed")
    try:
        rating = int(rating)
    except (TypeError, ValueError):
        rating = 0
    if not 1 <= rating <= 5:
        raise ValidationError(_("Please give a rating from 1 to 5."), code="bad_rating")
    return Review.objects.create(rental=locked, rating=rating, comment=(comment or "").strip())


def mark_notification_read(*, notification: Notification) -> bool:
    """Mark one notification read; returns whether it changed."""
    if notification.is_read:
        return False
    return bool(Notification.objects.filter(pk=notification.pk, is_read=False).update(is_read=True))


def mark_all_notifications_read(*, user: Any) -> int:
    """Mark every unread notification of ``user`` read; returns how many."""
    return Notification.objects.filter(user=user, is_read=False).update(is_read=True)


# --- customer payments ------------------------------------------------------------

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
    """An open charge that can't be reused: past its window → EXPIRED, else CANCELLED."""
    if charge.expires_at is not None and charge.expires_at <= now:
        transition_payment(
            payment=charge,
            to_status=Payment.Status.EXPIRED,
            event="charge_expired",
            actor=actor,
            payload={"reason": "payment window passed"},
            failure_reason=_("The payment window expired."),
        )
    else:
        transition_payment(
            payment=charge,
            to_status=Payment.Status.CANCELLED,
            event="charge_cancelled",
            actor=actor,
            payload={"reason": reason},
            failure_reason=reason[:255],
        )


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

    try:
        with transaction.atomic():
            charge = Payment.objects.create(
                rental=locked,
                user=user,
                amount=remaining,
                payment_method=method,
                transaction_type=Payment.TransactionType.CHARGE,
                status=Payment.Status.PENDING,
                transaction_id=new_transaction_id("PAY"),
                provider=provider_name,
                **payment_note(Words("order", {"order": locked.pk})),
                expires_at=now + timedelta(minutes=settings.PAYMENT_TTL_MINUTES),
            )
    except IntegrityError:
        # Another flow opened a charge without going through the rental lock;
        # the partial unique index kept the rule, so use what is there.
        existing = selectors.open_charge(rental=locked)
        if existing is not None and existing.amount == remaining:
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
    ).redirect_url


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
      charge we had closed (EXPIRED/CANCELLED) is recorded too, and whatever the
      order can no longer use is refunded at once (at most this charge);
    - failed / cancelled → FAILED / CANCELLED with the reason, PAYMENT_FAILED;
      the order is payable again.

    A refund notification (``"transaction_id": "REF…"``, status ``refunded``
    or ``refund_failed``, SPEC §11) goes through the same checks: refunded →
    REFUNDED, financials refreshed, REFUND_ISSUED to its receiver; refused →
    FAILED with the reason, the amount due again, staff told.

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

    # A refund notification names a REF row, a charge callback a PAY row.
    kind = (
        Payment.TransactionType.REFUND
        if event.status in providers.CallbackStatus.REFUND
        else Payment.TransactionType.CHARGE
    )
    found = (
        Payment.objects.filter(
            transaction_id=event.transaction_id,
            transaction_type=kind,
            provider=adapter.name,
        )
        .values_list("pk", "rental_id")
        .first()
    )
    if found is None:
        return _reject(http_status=404, provider=adapter.name, reason="unknown_transaction", event=event)
    return _apply_callback(event=event, payment_id=found[0], rental_id=found[1])


@transaction.atomic
def _apply_callback(*, event: Any, payment_id: int, rental_id: int, verdict: str = "accepted") -> tuple[int, dict]:
    """The checks and the transition shared by callbacks and status queries
    (``verdict`` "queried" for the latter). Locks: rental → payment."""
    source = "query" if verdict == "queried" else "callback"
    rental = lock_rental(rental_id)
    payment = lock_payment(payment_id)
    # The rows just locked (with the customer's user) stand for the payment's
    # relations: the audit rows and the notice below read them without a query.
    payment.rental = rental
    if payment.user_id is not None and payment.user_id == rental.customer.user_id:
        payment.user = rental.customer.user
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
            payment.transaction_id,
            payment.amount,
            event.amount,
            event.event_id,
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

    try:
        with transaction.atomic():
            CallbackReceipt.objects.create(provider=provider, event_id=event.event_id, payment=payment)
    except IntegrityError:
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

    if payment.transaction_type == Payment.TransactionType.REFUND:
        if event.status == providers.CallbackStatus.REFUNDED:
            _refund_confirmed(
                rental=rental,
                refund=payment,
                source=source,
                event_id=event.event_id,
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
    # else: a failure for a charge we had already closed changes nothing.
    return 200, {**answer, "status": "accepted", "payment_status": payment.status}


def _charge_succeeded(*, rental: Rental, payment: Payment, event: Any, source: str = "callback") -> None:
    late = payment.status in (Payment.Status.EXPIRED, Payment.Status.CANCELLED)
    transition_payment(
        payment=payment,
        to_status=Payment.Status.PAID,
        event="late_payment_received" if late else "status_changed",
        payload={"event_id": event.event_id, "source": source},
        paid_at=timezone.now(),
        provider_reference=(event.provider_reference or payment.provider_reference)[:100],
    )
    rental.refresh_financials()
    notify(
        user=payment.user or rental.customer.user,
        rental=rental,
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
    notify(
        user=payment.user or rental.customer.user,
        rental=rental,
        notification_type=Notification.Type.PAYMENT_FAILED,
        kind="payment_failed",
        params={
            "order": rental.pk,
            "reason": event.failure_reason or "",
            "outcome": "cancelled" if to_status == Payment.Status.CANCELLED else "declined",
        },
    )


def expire_stale_payments(now: datetime | None = None) -> list[str]:
    """Mark PENDING charges whose window has passed EXPIRED (SPEC §6).

    Each charge is expired in its own short transaction (locks rental →
    payment) and re-checked under the lock, so the function is idempotent and
    safe to run from cron while callbacks arrive. Returns the transaction ids
    it expired.
    """
    now = now or timezone.now()
    candidates = list(
        Payment.objects.filter(
            transaction_type=Payment.TransactionType.CHARGE,
            status=Payment.Status.PENDING,
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
            if charge.status != Payment.Status.PENDING or charge.expires_at is None or charge.expires_at > now:
                continue
            transition_payment(
                payment=charge,
                to_status=Payment.Status.EXPIRED,
                event="charge_expired",
                payload={"reason": "payment window passed", "expires_at": charge.expires_at.isoformat()},
                failure_reason=_("The payment window expired."),
            )
            expired.append(charge.transaction_id)
    return expired


# --- refunds the provider confirms (SPEC §11) -------------------------------------------


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


def _refund_failed(*, rental: Rental, refund: Payment, source: str, reason: str, event_id: str = "") -> None:
    """The provider refused for good: FAILED with the reason; the amount is due
    again and staff are told (the rental's audit trail, the "refund failed"
    filter and the finance dashboard), not the customer."""
    from rentals.models import RentalEvent

    transition_payment(
        payment=refund,
        to_status=Payment.Status.FAILED,
        event="refund_failed",
        payload={"event_id": event_id, "source": source, "reason": reason},
        failure_reason=reason[:255],
    )
    rental.refresh_financials()
    RentalEvent.objects.create(
        rental=rental,
        event="refund_failed",
        payload={"transaction_id": refund.transaction_id, "amount": str(refund.amount), "reason": reason},
    )
    logger.warning("refund %s of rental %s failed: %s", refund.transaction_id, rental.pk, reason)


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
                )
            elif started.confirmed:
                _refund_confirmed(
                    rental=rental, refund=refund, source="request", provider_reference=started.provider_reference
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
    """Staff send a FAILED refund again: a new row with a new REF id for what
    is still due of it (at most its amount), through the same provider, asked
    after commit. Locks: rental → payment."""
    _require_staff(by_user)
    locked = lock_rental(refund.rental_id)
    failed = lock_payment(refund.pk)
    if failed.transaction_type != Payment.TransactionType.REFUND or failed.status != Payment.Status.FAILED:
        raise RefundError(_("Only a failed refund can be sent again."), code="not_failed")
    charges = {c.charge_id: c for c in selectors.refundable_charges(rental=locked)}
    left = charges[failed.refund_of_id].left if failed.refund_of_id in charges else ZERO
    amount = min(failed.amount, locked.money_figures().refund_due, left)
    if amount <= ZERO:
        raise RefundError(_("Nothing of this refund is due any more."), code="nothing_due")
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


# --- lost messages: asking the provider (SPEC §11) --------------------------------------

SYNC_AFTER_MINUTES = 5


@dataclass(frozen=True)
class SyncLine:
    """What ``sync_payments`` did (or would do) to one payment."""

    transaction_id: str
    kind: str
    answer: str
    action: str  # applied, closed, expired, resent, accepted, unavailable, none
    status: str  # the payment's status afterwards (dry run: before)


def _query_event(*, payment: Payment, answer: Any) -> providers.CallbackEvent:
    return providers.CallbackEvent(
        provider=payment.provider,
        event_id=f"query:{payment.transaction_id}:{answer.status}",
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
    if answer.status in expected:
        if not dry_run:
            _apply_callback(
                event=_query_event(payment=payment, answer=answer),
                payment_id=payment.pk,
                rental_id=rental_id,
                verdict="queried",
            )
        return line(answer.status, "applied")
    if refund:
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
    if payment.expires_at is not None and payment.expires_at <= now:
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
    return line(answer.status, "none")


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
