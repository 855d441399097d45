"""Customer payment pages, the sandbox provider's checkout page and the
provider callback endpoint (SPEC §5 Paying, §6).

Views stay thin: load what is needed scoped to the signed-in customer, bind a
form, call one service, redirect. The rules live in ``accounts.services``.
"""

import base64
import io
import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts import providers, selectors, services
from accounts.devices import is_mobile
from accounts.exceptions import AmountChanged, PaymentError
from accounts.forms import PaymentForm
from accounts.models import Payment
from accounts.providers import CallbackStatus, ProviderError, sandbox
from accounts.providers.wechatpay import WechatPayProvider
from car_rental_system.compiled_queries import CompiledQuery
from car_rental_system.money import format_cny
from rentals.models import Rental
from rentals.services import refresh_statuses_if_due

logger = logging.getLogger(__name__)


def _own_rental(request, pk) -> Rental:
    return get_object_or_404(
        Rental.objects.select_related("vehicle", "customer", "pickup_location", "return_location"),
        pk=pk,
        customer__user=request.user,
    )


def _own_charge(request, transaction_id, **filters) -> Payment:
    return get_object_or_404(
        Payment.objects.select_related("rental", "rental__vehicle"),
        transaction_id=transaction_id,
        transaction_type=Payment.TransactionType.CHARGE,
        rental__customer__user=request.user,
        **filters,
    )


@login_required
@require_http_methods(["GET", "POST"])
def pay(request, pk):
    """Choose a method and go to the provider; the amount is the server's."""
    refresh_statuses_if_due()
    rental = _own_rental(request, pk)
    figures = rental.money_figures()
    payable = selectors.can_pay(rental=rental, figures=figures)
    methods = selectors.available_methods()
    mobile = is_mobile(request)
    if request.method == "POST" and not payable:
        messages.error(request, _("This order has nothing to pay right now."))
        return redirect("accounts:pay", pk=rental.pk)
    if request.method == "POST":
        form = PaymentForm(request.POST, methods=methods)
        if form.is_valid():
            try:
                charge = services.start_payment(
                    rental=rental,
                    method=form.cleaned_data["payment_method"],
                    user=request.user,
                    expected_amount=form.cleaned_data["expected_amount"],
                    mobile=mobile,
                )
            except AmountChanged as exc:
                messages.warning(request, " ".join(exc.messages))
                return redirect("accounts:pay", pk=rental.pk)
            except PaymentError as exc:
                messages.error(request, " ".join(exc.messages))
                return redirect("accounts:pay", pk=rental.pk)
            return redirect(charge.redirect_url)
    else:
        form = PaymentForm(initial={"expected_amount": figures.remaining}, methods=methods)
    open_charge = selectors.open_charge(rental=rental) if payable else None
    continue_url = ""
    if open_charge is not None:
        try:
            continue_url = services.payment_redirect_url(open_charge, mobile=mobile)
        except ProviderError:  # a charge of a provider this site no longer offers
            continue_url = ""
    return render(
        request,
        "payments/pay.html",
        {
            "rental": rental,
            "figures": figures,
            "breakdown": rental.get_order_amount_breakdown(),
            "payable": payable,
            "form": form,
            "open_charge": open_charge,
            "continue_url": continue_url,
            "methods": methods,
        },
    )


def _still_payable(rental_pk: int) -> bool:
    rental = Rental.objects.get(pk=rental_pk)
    return selectors.can_pay(rental=rental)


@login_required
@require_http_methods(["GET", "POST"])
def sandbox_checkout(request, transaction_id):
    """The sandbox provider's page: the person picks the outcome; the page then
    signs a callback exactly like a remote provider and delivers it to the same
    handler, and sends the browser back to the order."""
    if not sandbox.sandbox_enabled():
        raise Http404("the sandbox is switched off")
    charge = _own_charge(request, transaction_id, provider=sandbox.SandboxProvider.name)
    if request.method == "POST":
        outcome = request.POST.get("outcome")
        if outcome not in CallbackStatus.CHARGE:
            return HttpResponseBadRequest(_("Choose success, failure or cancel."))
        if not charge.is_open:
            messages.info(request, _("This payment is already closed."))
            return redirect(charge.rental.get_absolute_url())
        reason = ""
        if outcome == CallbackStatus.FAILED:
            reason = (request.POST.get("failure_reason") or "").strip()[:200] or _("Declined by the bank")
        elif outcome == CallbackStatus.CANCELLED:
            reason = _("Cancelled at the payment page")
        sandbox.record_charge_outcome(transaction_id=charge.transaction_id, status=outcome, amount=charge.amount)
        headers, body = sandbox.build_callback(
            transaction_id=charge.transaction_id, status=outcome, amount=charge.amount, failure_reason=reason
        )
        http_status, answer = services.handle_callback(
            provider=sandbox.SandboxProvider.name, headers=headers, body=body
        )
        if http_status != 200:
            logger.warning("sandbox checkout callback for %s answered %s: %s", transaction_id, http_status, answer)
        charge.refresh_from_db()
        if charge.status == Payment.Status.PAID:
            messages.success(
                request, _("Payment of %(amount)s received. Thank you!") % {"amount": format_cny(charge.amount)}
            )
        elif charge.status in (Payment.Status.FAILED, Payment.Status.CANCELLED) and not _still_payable(
            charge.rental_id
        ):
            # While the order can still be paid, its page explains the failure
            # itself (next to the pay button); a message would say it twice.
            # Here nothing is left to pay, so there is no "pay again" either.
            messages.warning(
                request, _("The payment did not go through: %(reason)s.") % {"reason": charge.customer_failure_reason}
            )
        return redirect(charge.rental.get_absolute_url())
    return render(
        request,
        "payments/sandbox_checkout.html",
        {"charge": charge, "rental": charge.rental, "outcomes": CallbackStatus},
    )


def _qr_svg_data_uri(text: str) -> str:
    """``text`` as a QR code: an SVG (no image library needed) in a data: URI."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathFillImage, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    # Crisp edges: no anti-aliased seams between modules, which scanners dislike.
    svg = buffer.getvalue().replace(b"<svg ", b'<svg shape-rendering="crispEdges" ', 1)
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


@login_required
def wechat_qr(request, transaction_id):
    """WeChat Pay Native: the charge's ``code_url`` as a QR code to scan with
    WeChat; the page asks ``payments:status`` until the charge is no longer
    open, then moves on to the outcome by itself."""
    charge = _own_charge(request, transaction_id, provider=WechatPayProvider.name)
    if not charge.is_open:
        return redirect("payments:return", transaction_id=charge.transaction_id)
    try:
        started = providers.get_provider(charge.provider).start_charge(
            transaction_id=charge.transaction_id,
            amount=charge.amount,
            method=charge.payment_method,
            description=charge.description,
            return_url=reverse("payments:return", args=[charge.transaction_id]),
            expires_at=charge.expires_at,
        )
    except ProviderError as exc:
        logger.warning("WeChat Pay QR code of %s not available: %s", charge.transaction_id, exc)
        messages.error(request, _("The payment service is not available right now; please try again."))
        return redirect("accounts:pay", pk=charge.rental_id)
    return render(
        request,
        "payments/wechat_qr.html",
        {
            "charge": charge,
            "rental": charge.rental,
            "qr_src": _qr_svg_data_uri(started.code_url),
            "status_url": reverse("payments:status", args=[charge.transaction_id]),
            "next_url": reverse("payments:return", args=[charge.transaction_id]),
        },
    )


# What the status of a charge needs (Payment.is_open: a charge, open, not being closed).
CHARGE_STATUS = CompiledQuery(
    lambda transaction_id, user_id: Payment.objects.filter(
        transaction_id=transaction_id,
        transaction_type=Payment.TransactionType.CHARGE,
        rental__customer__user_id=user_id,
    ).values("transaction_id", "status", "closing_as")
)


@login_required
@require_http_methods(["GET"])
def charge_status(request, transaction_id):
    """The customer's own charge, for a page that waits for it (another customer's is a 404)."""
    found = CHARGE_STATUS.fetch(transaction_id, request.user.pk)  # compiled once per connection
    if not found:
        raise Http404("no such charge of this customer")
    charge = found[0]
    response = JsonResponse(
        {
            "transaction_id": charge["transaction_id"],
            "status": charge["status"],
            "open": charge["status"] in Payment.OPEN_STATUSES and not charge["closing_as"],
            "next_url": reverse("payments:return", args=[charge["transaction_id"]]),
        }
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
def payment_return(request, transaction_id):
    """Where a provider sends the browser back: "processing" (refreshing itself)
    until the callback has arrived, then the outcome."""
    charge = _own_charge(request, transaction_id)
    rental = charge.rental
    figures = rental.money_figures()
    return render(
        request,
        "payments/return.html",
        {
            "charge": charge,
            "rental": rental,
            "processing": charge.is_open,
            "can_pay_again": selectors.can_pay(rental=rental, figures=figures),
            "refresh_seconds": 3,
        },
    )


@csrf_exempt
@require_POST
def callback(request, provider):
    """Server-to-server provider callback. Answers JSON with the status code
    handle_callback decides; bad input is a 4xx, never a 500."""
    try:
        body = request.body
    except RequestDataTooBig:
        http_status, answer = 400, {"status": "rejected", "reason": "body_too_large"}
    else:
        http_status, answer = services.handle_callback(provider=provider, headers=request.headers, body=body)
    try:
        adapter = providers.get_provider(provider)
    except ProviderError:
        return JsonResponse(answer, status=http_status)
    reply = adapter.callback_answer(http_status=http_status, payload=answer)
    return HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)
