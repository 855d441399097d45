"""Cancelling an order (SPEC §5): the rules a cancellation must pass, and ``cancel_rental``."""

import logging
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Notification, Payment
from accounts.services import cancel_open_charges, notify, refund_due_rows
from car_rental_system import bounds
from car_rental_system.money import ZERO, format_cny
from rentals.exceptions import InvalidTransition, RentalError
from rentals.locks import lock_rental, lock_vehicle
from rentals.models import Rental
from rentals.selectors import CancelTerms, cancel_terms, is_on_road
from rentals.services.transitions import _release_vehicle, transition_rental

logger = logging.getLogger(__name__)


@transaction.atomic
def cancel_rental(
    *,
    rental: Rental,
    reason: str,
    by_user: Any = None,
    cancellation_fee: Decimal | None = None,
) -> Payment | None:
    """Cancel an order and give back what it no longer owes (§5, §19).

    Customers may cancel PENDING orders; staff also ONGOING and OVERDUE ones.
    The fee is the policy's of the booking (``rentals.selectors.cancel_terms``)
    when ``cancellation_fee`` is None, 0 with no ``by_user`` (ops scripts);
    staff may pass a lower one (``check_cancellation`` says when higher). Open charges are
    cancelled, the car is freed, ``net_paid − fee`` is refunded the way it
    came in (``refund_due_rows``, the §11 path: one row per charge; cash and
    parts with nobody to receive them flagged for the counter), and the
    customer is notified. Locks: vehicle → rental → payments.
    Returns the refund Payment or None.
    """
    vehicle = lock_vehicle(rental.vehicle_id)
    locked = lock_rental(rental.pk)
    from_status = locked.status
    terms = cancel_terms(rental=locked)
    reason, fee = check_cancellation(
        rental=locked, reason=reason, by_user=by_user, cancellation_fee=cancellation_fee, terms=terms
    )
    payload = _event_payload(reason=reason, fee=fee, terms=terms)
    cancel_open_charges(rental=locked, reason=_("Order cancelled"), actor=by_user)
    transition_rental(
        rental=locked,
        to=Rental.Status.CANCELLED,
        by_user=by_user,
        event="cancelled",
        payload=payload,
        cancel_reason=reason,
        cancelled_at=timezone.now(),
        cancellation_fee=fee,
    )
    if from_status in Rental.ON_ROAD_STATUSES:
        _release_vehicle(vehicle=vehicle, rental=locked)

    due = refund_due_rows(rental=locked, reason="cancellation", by_user=by_user)
    # The notice says the fee and its reason, what is refunded and what is
    # handed back at the counter (accounts.wording "cancelled").
    notify(
        user=locked.customer.user,
        rental=locked,
        notification_type=Notification.Type.ORDER_CANCELLED,
        kind="cancelled",
        params={
            "order": locked.pk,
            "reason": reason,
            "fee": str(fee),
            "refunded": str(due.refunded),
            "manual": str(due.manual),
            "store": locked.pickup_location.name,
        },
    )
    rental.copy_state_from(locked)
    return due.first


def _event_payload(*, reason: str, fee: Decimal, terms: CancelTerms) -> dict[str, Any]:
    payload: dict[str, Any] = {"reason": reason, "cancellation_fee": str(fee)}
    if fee < terms.fee:  # staff lowered the policy's fee: the reason stands for it
        payload.update(policy_fee=str(terms.fee), fee_lowered=True)
    return payload


def check_cancellation(
    *,
    rental: Rental,
    reason: str,
    by_user: Any = None,
    cancellation_fee: Decimal | None = None,
    terms: CancelTerms | None = None,
) -> tuple[str, Decimal]:
    """The rules a cancellation must pass (§5, §19), raising the domain error
    of the first it breaks; returns ``(reason, fee)`` cleaned, the fee being
    the policy's when none is given (0 with no ``by_user``). ``cancel_rental``
    runs it on the locked row; the staff page's preview runs it as is, so
    both refuse the same input with the same words. No lock, no write."""
    reason = (reason or "").strip()
    if not reason:
        raise RentalError(_("Please tell us why you are cancelling."), code="reason_required")
    is_staff = bool(getattr(by_user, "is_staff", False))
    fee = None if cancellation_fee is None else _clean_fee(cancellation_fee, is_staff=is_staff)
    # From start_time on the order is on the road (§5) even if no page has
    # refreshed its stored status yet; only staff may end it then.
    if is_on_road(rental=rental) and not is_staff:
        raise InvalidTransition(
            _("The car has been picked up; please contact the store to end this rental."),
            code="staff_only",
        )
    rental.assert_transition(Rental.Status.CANCELLED)
    if by_user is None:
        return reason, fee or ZERO
    terms = terms or cancel_terms(rental=rental)
    if fee is None or not is_staff:
        return reason, terms.fee
    if fee > rental.order_total:
        raise RentalError(
            _("The cancellation fee can't exceed the order total of %(total)s.")
            % {"total": format_cny(rental.order_total)},
            code="fee_too_high",
        )
    if fee > terms.ceiling:
        raise RentalError(
            _(
                "Under policy version %(version)s this cancellation costs at most %(fee)s now; staff may "
                "lower the fee but not raise it (except for a no-show)."
            )
            % {"version": terms.policy.version, "fee": format_cny(terms.ceiling)},
            code="fee_above_policy",
        )
    return reason, fee


def _clean_fee(cancellation_fee: Decimal, *, is_staff: bool) -> Decimal:
    fee = bounds.clean_money(cancellation_fee, error=RentalError)
    if fee < ZERO:
        raise RentalError(_("A cancellation fee can't be negative."), code="negative_fee")
    if fee > ZERO and not is_staff:
        raise RentalError(_("Only staff can charge a cancellation fee."), code="fee_staff_only")
    if bounds.exceeds_max_order_total(fee):
        raise RentalError(bounds.amount_too_large_message(_("cancellation fee")), code="fee_too_large")
    return fee
