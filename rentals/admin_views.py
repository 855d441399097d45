"""Staff pages on one rental: pick-up, return, cancel, counter payment and
manual refund.

Each page is wrapped in ``admin_site.admin_view`` (non-staff → admin login),
checks its own permission (403 otherwise), binds a form and calls one service.
A ``ValidationError`` from the service is shown on the form and nothing is
written (the services roll back their own transaction).
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import selectors
from accounts.figures import MoneyFigures
from accounts.services import record_counter_payment, record_manual_refund
from car_rental_system.money import ZERO, format_cny
from rentals import selectors as rental_selectors
from rentals import services as rental_services
from rentals.admin_forms import (
    CancelForm,
    CounterPaymentForm,
    ManualRefundForm,
    PickupForm,
    ReturnForm,
    local_now_input,
)
from rentals.models import Rental
from rentals.services import cancel_rental, pickup_rental, process_return

PERMS = {
    "return": "rentals.process_return",
    "pickup": "rentals.pickup_rental",
    "cancel": "rentals.cancel_rental",
    "payment": "accounts.record_counter_payment",
    "refund": "accounts.record_manual_refund",
    "extend": "rentals.change_rental",
}
LABELS = {
    "pickup": gettext_lazy("Hand over (pick-up)"),
    "return": gettext_lazy("Process return"),
    "payment": gettext_lazy("Counter payment"),
    "refund": gettext_lazy("Manual refund"),
    "cancel": gettext_lazy("Cancel order"),
    "extend": gettext_lazy("Extend"),
}


# --- who may do what, when -------------------------------------------------------


def available_actions(request, rental: Rental) -> list[dict]:
    """The buttons shown on the rental's change page for this user."""
    figures = rental.money_figures()
    return [
        {
            "key": action,
            "label": LABELS[action],
            "url": reverse(f"admin:rentals_rental_{action}", args=[rental.pk]),
        }
        for action in ("pickup", "return", "extend", "payment", "refund", "cancel")
        if request.user.has_perm(PERMS[action])
        and rental_selectors.action_allowed(action=action, rental=rental, figures=figures)
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
        "so_far": selectors.owed_so_far(rental=rental, figures=figures),
        "breakdown": rental.get_order_amount_breakdown(),
        "change_url": _change_url(rental),
        "has_view_permission": model_admin.has_view_permission(request, rental),
        **context,
    }
    return TemplateResponse(request, template, base)


# --- return -------------------------------------------------------------------------


def _done(request, rental: Rental) -> HttpResponseRedirect:
    """Back to the order once a flow went through, with the manual-refund warning when it applies."""
    if rental.requires_manual_refund:
        messages.warning(request, _("Nobody can receive the refund online: record it as a manual refund."))
    return HttpResponseRedirect(_change_url(rental))


def _cancelled_message(rental: Rental, *, refund: Any, refunded_before: Decimal) -> str:
    message = _("Order #%(order)s cancelled.") % {"order": rental.pk}
    if rental.cancellation_fee > ZERO:
        message += " " + _("Cancellation fee %(fee)s.") % {"fee": format_cny(rental.cancellation_fee)}
    if refund is not None:
        message += " " + _("Refunded %(amount)s.") % {
            "amount": format_cny(rental.money_figures().refunded - refunded_before)
        }
    return message


def _returned_message(rental: Rental) -> str:
    figures = rental.money_figures()
    return _("Order #%(order)s returned. Refunded %(refunded)s; still owed %(owed)s.") % {
        "order": rental.pk,
        "refunded": format_cny(figures.refunded),
        "owed": format_cny(figures.remaining),
    }


def process_return_view(request, pk, *, model_admin):
    _check_permission(request, "return")
    rental = _load(pk)
    if not rental_selectors.is_on_road(rental=rental):
        refusal = _("Only a car that is out on rental can be returned (this order is %(status)s).")
        return _refuse(request, rental, refusal % {"status": rental.get_status_display()})
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
                        check=form.check_input(),
                    )
                except ValidationError as err:
                    _show_errors(request, form, err)
                else:
                    messages.success(request, _returned_message(rental))
                    return _done(request, rental)
            else:
                try:
                    preview = rental_services.return_preview(
                        rental=rental,
                        returned_at=data["returned_at"],
                        location=data["location"],
                        damage_fee=data["damage_fee"],
                        check=form.check_input(),
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
        handed_over=rental_services.pickup_check_of(rental),
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
            pickup_rental(rental=rental, by_user=request.user, location=store, check=form.check_input())
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
        plan = rental_services.plan_pickup(rental=rental, vehicle=vehicle)
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
    terms = rental_selectors.cancel_terms(rental=rental)
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
                    messages.success(
                        request, _cancelled_message(rental, refund=refund, refunded_before=refunded_before)
                    )
                    return _done(request, rental)
            else:
                try:
                    reason, fee = rental_services.check_cancellation(
                        rental=rental,
                        reason=data["reason"],
                        cancellation_fee=data["cancellation_fee"],
                        by_user=request.user,
                    )
                except ValidationError as err:
                    _show_errors(request, form, err)
                else:
                    preview = rental_services.cancel_preview(rental=rental, reason=reason, fee=fee)
    else:
        form = CancelForm(initial={"cancellation_fee": terms.fee})
    return _render(
        request,
        model_admin,
        rental,
        "admin/rentals/rental/cancel.html",
        _("Cancel order #%(order)s") % {"order": rental.pk},
        form=form,
        preview=preview,
        terms=terms,
    )


# --- counter payment and manual refund: one ledger action page ----------------------


@dataclass(frozen=True)
class LedgerAction:
    """A staff page that writes one ledger row (a counter payment, a manual
    refund): when it applies, its form, the service it calls and its words."""

    refusal: Any  # lazy text shown when the action does not apply to the order
    template: str
    title: Any  # lazy text with %(order)s
    done: Any  # lazy text with %(amount)s, %(method)s, %(tx)s
    form: Callable[[Any, MoneyFigures], forms.Form]
    run: Callable[..., Any]  # the service: (rental, cleaned_data, by_user) → Payment
    context: Callable[[Rental], dict] = lambda rental: {}


LEDGER_ACTIONS = {
    "payment": LedgerAction(
        refusal=gettext_lazy("This order owes nothing."),
        template="admin/rentals/rental/counter_payment.html",
        title=gettext_lazy("Counter payment for order #%(order)s"),
        done=gettext_lazy("Received %(amount)s (%(method)s), transaction %(tx)s."),
        form=lambda data, figures: CounterPaymentForm(data, remaining=figures.remaining),
        run=lambda rental, data, by_user: record_counter_payment(
            rental=rental, amount=data["amount"], method=data["method"], by_user=by_user
        ),
    ),
    "refund": LedgerAction(
        refusal=gettext_lazy("Nothing has been paid on this order, so nothing can be refunded."),
        template="admin/rentals/rental/manual_refund.html",
        title=gettext_lazy("Manual refund for order #%(order)s"),
        done=gettext_lazy("Refunded %(amount)s (%(method)s), transaction %(tx)s."),
        form=lambda data, figures: ManualRefundForm(data, refund_due=figures.refund_due, net_paid=figures.net_paid),
        run=lambda rental, data, by_user: record_manual_refund(
            rental=rental, amount=data["amount"], reason=data["reason"], method=data["method"] or None, by_user=by_user
        ),
        context=lambda rental: {"recipient": selectors.refund_recipient(rental=rental)},
    ),
}


def ledger_action_view(request, pk, *, model_admin, action: str):
    """The page of a LEDGER_ACTIONS entry: refused when it does not apply
    (``rentals.selectors.action_allowed``), else its form; a valid post calls
    its service once and goes back to the order."""
    spec = LEDGER_ACTIONS[action]
    _check_permission(request, action)
    rental = _load(pk)
    figures = rental.money_figures()
    if not rental_selectors.action_allowed(action=action, rental=rental, figures=figures):
        return _refuse(request, rental, str(spec.refusal))
    form = spec.form(request.POST or None, figures)
    if request.method == "POST" and form.is_valid():
        try:
            row = spec.run(rental, form.cleaned_data, request.user)
        except ValidationError as err:
            _show_errors(request, form, err)
        else:
            messages.success(
                request,
                str(spec.done)
                % {
                    "amount": format_cny(row.amount),
                    "method": row.get_payment_method_display(),
                    "tx": row.transaction_id,
                },
            )
            return HttpResponseRedirect(_change_url(rental))
    return _render(
        request,
        model_admin,
        rental,
        spec.template,
        str(spec.title) % {"order": rental.pk},
        form=form,
        figures=figures,
        **spec.context(rental),
    )


def counter_payment_view(request, pk, *, model_admin):
    return ledger_action_view(request, pk, model_admin=model_admin, action="payment")


def manual_refund_view(request, pk, *, model_admin):
    return ledger_action_view(request, pk, model_admin=model_admin, action="refund")


def failed_refunds_to_retry(request, rental: Rental) -> list:
    """FAILED refunds staff may send again: with the refund permission, while
    money is still due back (SPEC §11)."""
    from accounts.models import Payment

    if not request.user.has_perm(PERMS["refund"]) or rental.money_figures().refund_due <= ZERO:
        return []
    return list(
        rental.payments.filter(transaction_type=Payment.TransactionType.REFUND, status=Payment.Status.FAILED)
        .exclude(refund_of__isnull=True)
        .exclude(abnormal=Payment.Abnormal.MERCHANT_BANK_CARD)  # back in our bank: handed over at the counter
        .order_by("-created_at", "-pk")
    )


def retry_refund_view(request, pk, refund_pk, *, model_admin):
    """POST only: send a FAILED refund again (a new row, a new REF id; the same
    row under its own id when the provider refused it for our merchant balance)."""
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
    if retry.pk == failed.pk:
        text = _(
            "Refund %(tx)s of %(amount)s sent again under its own id (the provider refused it for our merchant balance)."
        )
    else:
        text = _("Refund of %(amount)s sent again as %(tx)s.")
    messages.success(request, text % {"amount": format_cny(retry.amount), "tx": retry.transaction_id})
    return HttpResponseRedirect(_change_url(rental))
