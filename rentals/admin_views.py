"""Staff pages on one rental: pick-up, return, cancel, counter payment and
manual refund.

Each page is wrapped in ``admin_site.admin_view`` (non-staff → admin login),
checks its own permission (403 otherwise), binds a form and calls one service.
A ``ValidationError`` from the service is shown on the form and nothing is
written (the services roll back their own transaction).
"""

import copy
from dataclasses import dataclass
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import selectors
from accounts.services import record_counter_payment, record_manual_refund
from car_rental_system.money import ZERO, format_cny, quantize_money
from rentals.admin_forms import (
    CancelForm,
    CounterPaymentForm,
    ManualRefundForm,
    PickupForm,
    ReturnForm,
    local_now_input,
)
from rentals.models import MoneyFigures, Rental
from rentals.services import (
    cancel_rental,
    check_cancellation,
    pickup_rental,
    plan_pickup,
    prepare_return,
    process_return,
)

PERMS = {
    "return": "rentals.process_return",
    "pickup": "rentals.pickup_rental",
    "cancel": "rentals.cancel_rental",
    "payment": "accounts.record_counter_payment",
    "refund": "accounts.record_manual_refund",
}
LABELS = {
    "pickup": gettext_lazy("Hand over (pick-up)"),
    "return": gettext_lazy("Process return"),
    "payment": gettext_lazy("Counter payment"),
    "refund": gettext_lazy("Manual refund"),
    "cancel": gettext_lazy("Cancel order"),
}


# --- who may do what, when -------------------------------------------------------


def is_on_road(rental: Rental) -> bool:
    """ONGOING/OVERDUE, or PENDING past its start (process_return accepts those too)."""
    return rental.status_by_time() in Rental.ON_ROAD_STATUSES


def action_allowed(action: str, rental: Rental, figures: MoneyFigures) -> bool:
    if action == "pickup":
        return rental.status == Rental.Status.PENDING
    if action == "return":
        return is_on_road(rental)
    if action == "cancel":
        return rental.status in Rental.ACTIVE_STATUSES
    if action == "payment":
        return figures.remaining > ZERO
    if action == "refund":
        return figures.net_paid > ZERO
    raise ValueError(action)


def available_actions(request, rental: Rental) -> list[dict]:
    """The buttons shown on the rental's change page for this user."""
    figures = rental.money_figures()
    return [
        {
            "key": action,
            "label": LABELS[action],
            "url": reverse(f"admin:rentals_rental_{action}", args=[rental.pk]),
        }
        for action in ("pickup", "return", "payment", "refund", "cancel")
        if request.user.has_perm(PERMS[action]) and action_allowed(action, rental, figures)
    ]


def _check_permission(request, action: str) -> None:
    if not request.user.has_perm(PERMS[action]):
        raise PermissionDenied


def _change_url(rental: Rental) -> str:
    return reverse("admin:rentals_rental_change", args=[rental.pk])


def _load(pk) -> Rental:
    return get_object_or_404(
        Rental.objects.select_related("customer", "customer__user", "vehicle", "pickup_location", "return_location"),
        pk=pk,
    )


def _refuse(request, rental: Rental, message: str) -> HttpResponseRedirect:
    messages.error(request, message)
    return HttpResponseRedirect(_change_url(rental))


def _show_errors(request, form, err: ValidationError) -> None:
    for message in err.messages:
        form.add_error(None, message)
    messages.error(request, " ".join(err.messages))


def _render(request, model_admin, rental: Rental, template: str, title: str, **context):
    figures = context.pop("figures", None) or rental.money_figures()
    base = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": rental,
        "rental": rental,
        "title": title,
        "figures": figures,
        "breakdown": rental.get_order_amount_breakdown(),
        "change_url": _change_url(rental),
        "has_view_permission": model_admin.has_view_permission(request, rental),
        **context,
    }
    return TemplateResponse(request, template, base)


# --- return -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReturnPreview:
    overdue_fee: Decimal
    cross_location_fee: Decimal
    damage_fee: Decimal
    order_total: Decimal
    owed: Decimal
    net_paid: Decimal
    deposit_refund: Decimal
    still_owed: Decimal
    needs_manual_refund: bool


def return_preview(rental: Rental, *, returned_at, location, damage_fee: Decimal) -> ReturnPreview:
    """What ``process_return`` would compute, without writing: the same
    ``prepare_return`` (its checks raise ValidationError here too) on an unsaved
    copy of the rental, against its current ledger."""
    draft = copy.copy(rental)
    prepare_return(rental=draft, returned_at=returned_at, location=location, damage_fee=damage_fee)
    figures = draft.figures_for(*rental.ledger_sums())
    return ReturnPreview(
        overdue_fee=draft.overdue_fee,
        cross_location_fee=draft.cross_location_fee,
        damage_fee=draft.damage_fee,
        order_total=figures.order_total,
        owed=figures.owed,
        net_paid=figures.net_paid,
        deposit_refund=figures.refund_due,
        still_owed=figures.remaining,
        needs_manual_refund=bool(_routed_refund(rental, figures.refund_due, at_counter=True)[1]),
    )


def _routed_refund(rental: Rental, amount: Decimal, *, at_counter: bool) -> tuple[list, list]:
    """How ``refund_due_rows`` would pay back ``amount``: (parts written, with
    their receivers; parts left for staff), by ``accounts.selectors.route_refund``."""
    split = selectors.split_refund(selectors.refundable_charges(rental), amount) if amount > ZERO else []
    return selectors.route_refund(split, customer_user_id=rental.customer.user_id, at_counter=at_counter)


def process_return_view(request, pk, *, model_admin):
    _check_permission(request, "return")
    rental = _load(pk)
    if not is_on_road(rental):
        return _refuse(
            request,
            rental,
            _("Only a car that is out on rental can be returned (this order is %(status)s).")
            % {"status": rental.get_status_display()},
        )
    preview = None
    if request.method == "POST":
        form = ReturnForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            if "_confirm" in request.POST:
                try:
                    process_return(
                        rental=rental,
                        returned_at=data["returned_at"],
                        location=data["location"],
                        damage_fee=data["damage_fee"],
                        note=data["note"],
                        by_user=request.user,
                    )
                except ValidationError as err:
                    _show_errors(request, form, err)
                else:
                    figures = rental.money_figures()
                    messages.success(
                        request,
                        _("Order #%(order)s returned. Refunded %(refunded)s; still owed %(owed)s.")
                        % {
                            "order": rental.pk,
                            "refunded": format_cny(figures.refunded),
                            "owed": format_cny(figures.remaining),
                        },
                    )
                    if rental.requires_manual_refund:
                        messages.warning(
                            request,
                            _("Nobody can receive the refund online: record it as a manual refund."),
                        )
                    return HttpResponseRedirect(_change_url(rental))
            else:
                try:
                    preview = return_preview(
                        rental,
                        returned_at=data["returned_at"],
                        location=data["location"],
                        damage_fee=data["damage_fee"],
                    )
                except ValidationError as err:
                    _show_errors(request, form, err)
    else:
        form = ReturnForm(
            initial={"returned_at": local_now_input(), "location": rental.return_location_id, "damage_fee": ZERO}
        )
    return _render(
        request,
        model_admin,
        rental,
        "admin/rentals/rental/return.html",
        _("Process return of order #%(order)s") % {"order": rental.pk},
        form=form,
        preview=preview,
    )


# --- pick-up ------------------------------------------------------------------------


def pickup_view(request, pk, *, model_admin):
    """Hand-over: the page shows where the car stands and, when that is not the
    booked pick-up store, how the order is re-priced, before the clerk confirms;
    a hand-over too early is refused with the advice to rebook."""
    _check_permission(request, "pickup")
    rental = _load(pk)
    if rental.status != Rental.Status.PENDING:
        return _refuse(
            request,
            rental,
            _("Only an order waiting for pick-up can be handed over (this one is %(status)s).")
            % {"status": rental.get_status_display()},
        )
    vehicle = rental.vehicle
    form = PickupForm(request.POST or None, initial={"location": vehicle.location_id})
    if request.method == "POST" and form.is_valid():
        booked = rental.pickup_location
        store = form.cleaned_data["location"] or vehicle.location
        try:
            pickup_rental(rental=rental, by_user=request.user, location=store)
        except ValidationError as err:
            _show_errors(request, form, err)
        else:
            messages.success(request, _("Order #%(order)s: car handed over.") % {"order": rental.pk})
            if store.pk != booked.pk:
                messages.warning(
                    request,
                    _("Handed over at %(store)s instead of the booked %(booked)s: the one-way fee is now %(fee)s.")
                    % {"store": store, "booked": booked, "fee": format_cny(rental.cross_location_fee)},
                )
            return HttpResponseRedirect(_change_url(rental))
    plan, refusal = None, []
    try:
        plan = plan_pickup(rental=rental, vehicle=vehicle)
    except ValidationError as err:
        refusal = err.messages
    return _render(
        request,
        model_admin,
        rental,
        "admin/rentals/rental/pickup.html",
        _("Hand over the car of order #%(order)s") % {"order": rental.pk},
        form=form,
        plan=plan,
        refusal=refusal,
    )


# --- cancel -------------------------------------------------------------------------


@dataclass(frozen=True)
class CancelRefundPart:
    """One part of a cancellation refund: back through ``method`` to ``to``,
    or handed back at the counter (cash, or nobody to pay it to online)."""

    amount: Decimal
    method: str
    to: object  # a User, or None
    at_counter: bool

    @property
    def method_label(self) -> str:
        from accounts.models import Payment

        return str(Payment.Method(self.method).label) if self.method else ""


@dataclass(frozen=True)
class CancelPreview:
    fee: Decimal
    reason: str
    net_paid: Decimal
    refund: Decimal
    still_owed: Decimal
    parts: list

    @property
    def online(self) -> Decimal:
        return quantize_money(sum((p.amount for p in self.parts if not p.at_counter), ZERO))

    @property
    def at_counter(self) -> Decimal:
        return quantize_money(self.refund - self.online)


def cancel_preview(rental: Rental, *, reason: str, fee: Decimal) -> CancelPreview:
    """What ``cancel_rental`` would refund, without writing: the §4 figures of
    an unsaved copy marked CANCELLED with ``fee``, spread over the charges
    with money left the way ``refund_due_rows`` spreads it (SPEC §16)."""
    from django.contrib.auth import get_user_model

    from accounts.models import Payment

    draft = copy.copy(rental)
    draft.status = Rental.Status.CANCELLED
    draft.cancellation_fee = fee
    figures = draft.figures_for(*rental.ledger_sums())
    # the receivers cancel_rental's refund_due_rows would pick, staff at the counter
    to_write, for_staff = _routed_refund(rental, figures.refund_due, at_counter=True)
    users = get_user_model().objects.in_bulk({part.user_id for part in to_write})
    parts = [
        CancelRefundPart(
            amount=part.amount,
            method=part.method,
            to=users[part.user_id],
            at_counter=part.method == Payment.Method.CASH,
        )
        for part in to_write
    ] + [CancelRefundPart(amount=part.amount, method=part.method, to=None, at_counter=True) for part in for_staff]
    left_over = quantize_money(figures.refund_due - sum((p.amount for p in to_write + for_staff), ZERO))
    if left_over > ZERO:  # never expected: the charges hold what is due
        parts.append(CancelRefundPart(amount=left_over, method="", to=None, at_counter=True))
    return CancelPreview(
        fee=fee,
        reason=reason,
        net_paid=figures.net_paid,
        refund=figures.refund_due,
        still_owed=figures.remaining,
        parts=parts,
    )


def cancel_view(request, pk, *, model_admin):
    """Preview (fee, refund, how it is split and to whom), then Confirm; both
    run the service's own checks (``check_cancellation``)."""
    _check_permission(request, "cancel")
    rental = _load(pk)
    if rental.status not in Rental.ACTIVE_STATUSES:
        return _refuse(
            request,
            rental,
            _("This order is %(status)s and can't be cancelled.") % {"status": rental.get_status_display()},
        )
    preview = None
    if request.method == "POST":
        form = CancelForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            if "_confirm" in request.POST:
                refunded_before = rental.money_figures().refunded
                try:
                    refund = cancel_rental(
                        rental=rental,
                        reason=data["reason"],
                        cancellation_fee=data["cancellation_fee"],
                        by_user=request.user,
                    )
                except ValidationError as err:
                    _show_errors(request, form, err)
                else:
                    message = _("Order #%(order)s cancelled.") % {"order": rental.pk}
                    if rental.cancellation_fee > ZERO:
                        message += " " + _("Cancellation fee %(fee)s.") % {"fee": format_cny(rental.cancellation_fee)}
                    if refund is not None:
                        message += " " + _("Refunded %(amount)s.") % {
                            "amount": format_cny(rental.money_figures().refunded - refunded_before)
                        }
                    messages.success(request, message)
                    if rental.requires_manual_refund:
                        messages.warning(
                            request, _("Nobody can receive the refund online: record it as a manual refund.")
                        )
                    return HttpResponseRedirect(_change_url(rental))
            else:
                try:
                    reason, fee = check_cancellation(
                        rental=rental,
                        reason=data["reason"],
                        cancellation_fee=data["cancellation_fee"],
                        by_user=request.user,
                    )
                except ValidationError as err:
                    _show_errors(request, form, err)
                else:
                    preview = cancel_preview(rental, reason=reason, fee=fee)
    else:
        form = CancelForm()
    return _render(
        request,
        model_admin,
        rental,
        "admin/rentals/rental/cancel.html",
        _("Cancel order #%(order)s") % {"order": rental.pk},
        form=form,
        preview=preview,
    )


# --- counter payment ----------------------------------------------------------------


def counter_payment_view(request, pk, *, model_admin):
    _check_permission(request, "payment")
    rental = _load(pk)
    figures = rental.money_figures()
    if figures.remaining <= ZERO:
        return _refuse(request, rental, _("This order owes nothing."))
    form = CounterPaymentForm(request.POST or None, remaining=figures.remaining)
    if request.method == "POST" and form.is_valid():
        try:
            charge = record_counter_payment(
                rental=rental,
                amount=form.cleaned_data["amount"],
                method=form.cleaned_data["method"],
                by_user=request.user,
            )
        except ValidationError as err:
            _show_errors(request, form, err)
        else:
            messages.success(
                request,
                _("Received %(amount)s (%(method)s), transaction %(tx)s.")
                % {
                    "amount": format_cny(charge.amount),
                    "method": charge.get_payment_method_display(),
                    "tx": charge.transaction_id,
                },
            )
            return HttpResponseRedirect(_change_url(rental))
    return _render(
        request,
        model_admin,
        rental,
        "admin/rentals/rental/counter_payment.html",
        _("Counter payment for order #%(order)s") % {"order": rental.pk},
        form=form,
        figures=figures,
    )


# --- manual refund ------------------------------------------------------------------


def manual_refund_view(request, pk, *, model_admin):
    _check_permission(request, "refund")
    rental = _load(pk)
    figures = rental.money_figures()
    if figures.net_paid <= ZERO:
        return _refuse(request, rental, _("Nothing has been paid on this order, so nothing can be refunded."))
    form = ManualRefundForm(request.POST or None, refund_due=figures.refund_due, net_paid=figures.net_paid)
    if request.method == "POST" and form.is_valid():
        try:
            refund = record_manual_refund(
                rental=rental,
                amount=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"],
                method=form.cleaned_data["method"] or None,
                by_user=request.user,
            )
        except ValidationError as err:
            _show_errors(request, form, err)
        else:
            messages.success(
                request,
                _("Refunded %(amount)s (%(method)s), transaction %(tx)s.")
                % {
                    "amount": format_cny(refund.amount),
                    "method": refund.get_payment_method_display(),
                    "tx": refund.transaction_id,
                },
            )
            return HttpResponseRedirect(_change_url(rental))
    return _render(
        request,
        model_admin,
        rental,
        "admin/rentals/rental/manual_refund.html",
        _("Manual refund for order #%(order)s") % {"order": rental.pk},
        form=form,
        figures=figures,
        recipient=selectors.refund_recipient(rental),
    )


def failed_refunds_to_retry(request, rental: Rental) -> list:
    """FAILED refunds staff may send again: with the refund permission, while
    money is still due back (SPEC §11)."""
    from accounts.models import Payment

    if not request.user.has_perm(PERMS["refund"]) or rental.money_figures().refund_due <= ZERO:
        return []
    return list(
        rental.payments.filter(transaction_type=Payment.TransactionType.REFUND, status=Payment.Status.FAILED)
        .exclude(refund_of__isnull=True)
        .order_by("-created_at", "-pk")
    )


def retry_refund_view(request, pk, refund_pk, *, model_admin):
    """POST only: send a FAILED refund again (a new row, a new REF id)."""
    from django.http import HttpResponseNotAllowed

    from accounts.models import Payment
    from accounts.services import retry_failed_refund

    _check_permission(request, "refund")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    rental = _load(pk)
    failed = get_object_or_404(Payment, pk=refund_pk, rental=rental, transaction_type=Payment.TransactionType.REFUND)
    try:
        retry = retry_failed_refund(refund=failed, by_user=request.user)
    except ValidationError as err:
        return _refuse(request, rental, " ".join(err.messages))
    messages.success(
        request,
        _("Refund of %(amount)s sent again as %(tx)s.") % {"amount": format_cny(retry.amount), "tx": retry.transaction_id},
    )
    return HttpResponseRedirect(_change_url(rental))
