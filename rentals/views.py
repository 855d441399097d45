"""Customer booking pages: the booking form, its live price preview and cancelling.

Views stay thin: load what they need scoped to the signed-in customer, bind a
form, call one service, redirect (post/redirect/get). A ValidationError from a
service becomes a form error and nothing is written.
"""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from accounts import selectors as account_selectors
from accounts.wording import join_sentences, late_fee_rule_text
from car_rental_system import bounds
from car_rental_system.money import format_cny, quantize_money
from car_rental_system.rate_limits import client_ip
from customers.decorators import customer_required
from customers.models import Customer
from rentals import pricing, selectors, services
from rentals.forms import DATETIME_LOCAL, BookingForm, CancelForm
from rentals.models import CancellationPolicy, Rental
from vehicles.selectors import bookable_vehicles

QUOTE_AMOUNTS = (
    "daily_rate",
    "base_rent",
    "discount_amount",
    "total_amount",
    "deposit",
    "cross_location_fee",
    "order_total",
)


def _vehicle_or_404(vehicle_pk: int):
    return get_object_or_404(bookable_vehicles(), pk=vehicle_pk)


@customer_required
@require_http_methods(["GET", "POST"])
def book(request, vehicle_pk: int):
    """Booking form; a valid post creates the PENDING rental and shows its order page."""
    services.refresh_statuses_if_due()
    vehicle = _vehicle_or_404(vehicle_pk)
    quote_shown = None
    if request.method == "POST":
        form = BookingForm(request.POST, vehicle=vehicle)
        if form.is_valid():
            try:
                rental = services.create_rental(
                    customer=request.customer,
                    vehicle=vehicle,
                    start_time=form.cleaned_data["start_time"],
                    end_time=form.cleaned_data["end_time"],
                    pickup_location=form.cleaned_data["pickup_location"],
                    return_location=form.cleaned_data["return_location"],
                    client_ip=client_ip(request),
                )
            except ValidationError as error:
                # The refused values are valid dates: the price box shows their
                # quote (none for taken dates, which the error names).
                quote_shown = quote_payload(vehicle, form.cleaned_data, request.customer.member_level)
                if not (quote_shown["ok"] and quote_shown["available"]):
                    quote_shown = None
                form.add_error(None, error.messages)
            else:
                messages.success(
                    request,
                    _("Order #%(order)s is booked. Please pay %(amount)s to confirm it.")
                    % {"order": rental.pk, "amount": format_cny(rental.order_total)},
                )
                return redirect(rental.get_absolute_url())
    else:
        initial = {key: request.GET[key] for key in ("start_time", "end_time") if request.GET.get(key)}
        form = BookingForm(initial=initial, vehicle=vehicle)
    return render(
        request,
        "rentals/book.html",
        {
            "vehicle": vehicle,
            "form": form,
            "member_level": request.customer.get_member_level_display(),
            "policy": CancellationPolicy.objects.in_force(),
            "late_fee_rule": late_fee_rule_text(vehicle.daily_rate),
            "quote": quote_shown,
        },
    )


@require_GET
def quote(request, vehicle_pk: int):
    """JSON price preview for the booking form (rentals.pricing.quote): the
    signed-in customer's member level, REGULAR for anonymous visitors. Amounts
    are strings (Decimal) plus ready-to-show ``display`` strings. When the car
    is already taken for the period, ``available`` is false and ``taken`` says
    by which booking and offers the next free period of the same length
    (rentals.selectors.check_period)."""
    vehicle = _vehicle_or_404(vehicle_pk)
    form = BookingForm(request.GET, vehicle=vehicle)
    if not form.is_valid():
        errors = [str(message) for field_errors in form.errors.values() for message in field_errors]
        return JsonResponse({"ok": False, "errors": errors}, status=400)
    level: str = Customer.MemberLevel.REGULAR
    if request.user.is_authenticated:
        customer = Customer.objects.filter(user=request.user).only("member_level").first()
        if customer is not None:
            level = customer.member_level
    payload = quote_payload(vehicle, form.cleaned_data, level)
    return JsonResponse(payload, status=200 if payload["ok"] else 400)


def quote_payload(vehicle, data: dict, level: str) -> dict:
    """The price preview of valid booking values (the quote view's answer,
    also shown on a booking page re-rendered after a refusal); ``ok`` false
    with the errors when the order total would pass its ceiling."""
    q = pricing.quote(
        daily_rate=vehicle.daily_rate,
        deposit_amount=vehicle.deposit_amount,
        member_level=level,
        start_time=data["start_time"],
        end_time=data["end_time"],
        pickup_location_id=data["pickup_location"].pk,
        return_location_id=data["return_location"].pk,
    )
    try:
        bounds.check_order_total(q.order_total)
    except ValidationError as error:
        return {"ok": False, "errors": error.messages}
    amounts = {name: str(getattr(q, name)) for name in QUOTE_AMOUNTS}
    percent = str(quantize_money(q.discount_rate * 100))
    check = selectors.check_period(vehicle_id=vehicle.pk, start_time=data["start_time"], end_time=data["end_time"])
    return {
        "ok": True,
        "available": check.is_free,
        "taken": None if check.is_free else _taken_answer(check),
        "days": q.days,
        "rent_label": ngettext("Rent (%(days)s day)", "Rent (%(days)s days)", q.days) % {"days": q.days},
        "discount_label": _("Member discount (%(percent)s%%)") % {"percent": percent.removesuffix(".00")},
        "member_level": level,
        "member_level_label": str(Customer.MemberLevel(level).label),
        "discount_percent": percent,
        "amounts": amounts,
        "display": {name: format_cny(getattr(q, name)) for name in QUOTE_AMOUNTS},
        "cancellation": _cancellation_answer(q, data["start_time"]),
    }


def _cancellation_answer(q: pricing.PriceQuote, start_time) -> dict:
    """What cancelling a booking of these times would cost under the policy
    in force (SPEC §19), for the booking form."""
    policy = CancellationPolicy.objects.in_force()
    late_fee, _no_show_fee = selectors.policy_fees(
        policy=policy, total_amount=q.total_amount, daily_rate=q.daily_rate, discount_rate=q.discount_rate
    )
    free_until = start_time - timedelta(hours=policy.free_until_hours)
    until = date_format(timezone.localtime(free_until), "m-d H:i")
    if timezone.now() <= free_until:
        text = _("Free cancellation until %(until)s; after that, cancelling costs %(fee)s.")
    else:
        text = _("Free cancellation would already have ended (%(until)s): cancelling once paid costs %(fee)s.")
    return {
        "policy_version": policy.version,
        "free_until": until,
        "late_fee": str(late_fee),
        "text": text % {"until": until, "fee": format_cny(late_fee)},
    }


def _local_text(moment) -> str:
    return date_format(timezone.localtime(moment), "Y-m-d H:i")


def _taken_answer(check: selectors.PeriodCheck) -> dict:
    """What the booking form shows for taken dates: why, and the next free
    period of the same length as form values and as text (after the hold of
    an overdue rental in the way)."""
    if check.taken_by_overdue:
        message = _("This car is still out on an overdue rental and is kept for its driver until %(end)s.") % {
            "end": _local_text(check.taken_until)
        }
    else:
        message = _("This car is already booked from %(start)s to %(end)s.") % {
            "start": _local_text(check.taken_from),
            "end": _local_text(check.taken_until),
        }
    next_free = None
    if check.next_start is not None:
        next_free = {
            "start_time": timezone.localtime(check.next_start).strftime(DATETIME_LOCAL),
            "end_time": timezone.localtime(check.next_end).strftime(DATETIME_LOCAL),
            "text": _("Next free period of the same length: %(start)s to %(end)s.")
            % {"start": _local_text(check.next_start), "end": _local_text(check.next_end)},
        }
    return {"message": message, "next_free": next_free}


def _tell_cancelled(request, rental: Rental) -> None:
    """The banner after a customer's cancel: what is true of the refund now
    (its job may have run already, or not yet): back, in progress or refused."""
    rental = Rental.objects.prefetch_related("payments").get(pk=rental.pk)
    refunds = account_selectors.order_row(rental=rental).refund_status
    head = _("Order #%(order)s is cancelled.") % {"order": rental.pk}
    if refunds.lines:
        tell = {"failed": messages.warning, "in_flight": messages.info}.get(refunds.state, messages.success)
        tell(request, join_sentences(head, *(text for _kind, text in refunds.lines)))
    elif rental.requires_manual_refund:
        messages.warning(
            request,
            _("Order #%(order)s is cancelled. Our staff will refund you by hand.") % {"order": rental.pk},
        )
    else:
        messages.success(
            request,
            _("Order #%(order)s is cancelled. Nothing had been paid, so there is nothing to refund.")
            % {"order": rental.pk},
        )


@customer_required
@require_http_methods(["GET", "POST"])
def cancel(request, pk: int):
    """Confirm page with the refund that will happen; a reason is required."""
    services.refresh_statuses_if_due()
    rental = get_object_or_404(
        Rental.objects.select_related("vehicle", "pickup_location", "return_location", "policy").prefetch_related(
            "payments"
        ),
        pk=pk,
        customer=request.customer,
    )
    if not selectors.can_cancel(rental=rental, by_user=request.user):
        messages.error(
            request,
            _("Only an order waiting for pick-up can be cancelled here; please contact the store."),
        )
        return redirect(rental.get_absolute_url())
    figures = rental.money_figures()
    # What cancel_rental will refund, by the same rule (a customer's own cancel:
    # cash is handed back at the store).
    terms = selectors.cancel_terms(rental=rental, figures=figures)
    preview = services.cancel_preview(rental=rental, fee=terms.fee, at_counter=False)
    open_charges = [p for p in rental.payments.all() if p.is_open]
    if request.method == "POST":
        form = CancelForm(request.POST)
        if form.is_valid():
            try:
                services.cancel_rental(rental=rental, reason=form.cleaned_data["reason"], by_user=request.user)
            except ValidationError as error:
                form.add_error(None, error.messages)
            else:
                _tell_cancelled(request, rental)
                return redirect(rental.get_absolute_url())
    else:
        form = CancelForm()
    return render(
        request,
        "rentals/cancel.html",
        {
            "rental": rental,
            "form": form,
            "figures": figures,
            "refund_preview": preview.refund,
            "preview": preview,
            "open_charges": open_charges,
            "policy": terms.policy,
            "terms": terms,
        },
    )
