"""The yardstick of bench/callback_cpu.py: the least a signed success callback
must do to be applied exactly once, written plainly with the ORM, served by
the same settings and middleware (this module is the URLconf: the project's
URLs plus ``/bench/minimal-callback/<provider>/``).

Its work: verify the signature with the provider's primitive (HMAC-SHA256;
RSA2 over the sorted form; SHA256withRSA, then AES-GCM), read the body, and
in one transaction: find the charge, lock its rental and the charge, insert
the receipt (unique per provider and event, in a savepoint), audit the
callback, move the charge to PAID and audit the move, add up the order's
ledger rows and store the figures, write the customer's notice: BEGIN, 12
statements, COMMIT. No checks beyond those, no logging of its own.
"""

import base64
import hmac
import json
from decimal import Decimal
from functools import cache
from urllib.parse import parse_qsl

from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from accounts.figures import sum_rows
from accounts.models import CallbackReceipt, Notification, Payment, PaymentEvent
from accounts.wording import notice_in_default_language
from car_rental_system.urls import urlpatterns as project_urls
from rentals.models import Rental


@cache
def _alipay_key(pem: str):
    from Cryptodome.PublicKey import RSA

    return RSA.import_key(pem)


def _verified(provider: str, request, body: bytes) -> tuple[str, str, Decimal, str]:
    """(event id, transaction id, amount, provider reference) of a verified notice."""
    from django.conf import settings

    if provider == "sandbox":
        from accounts.providers import sandbox

        stamp, digest = (part.split("=", 1)[1] for part in request.headers["X-Sandbox-Signature"].split(","))
        if not hmac.compare_digest(digest, sandbox.compute_signature(stamp, body)):
            raise ValueError("signature")
        data = json.loads(body)
        return data["event_id"], data["transaction_id"], Decimal(data["amount"]), data["event_id"]
    if provider == "alipay":
        from Cryptodome.Hash import SHA256
        from Cryptodome.Signature import PKCS1_v1_5

        params = dict(parse_qsl(body.decode("ascii")))
        sign = params.pop("sign")
        params.pop("sign_type")
        text = "&".join(f"{k}={params[k]}" for k in sorted(params))
        key = _alipay_key(settings.ALIPAY_PUBLIC_KEY)
        if not PKCS1_v1_5.new(key).verify(SHA256.new(text.encode()), base64.b64decode(sign)):
            raise ValueError("signature")
        return params["notify_id"], params["out_trade_no"], Decimal(params["total_amount"]), params["trade_no"]
    from accounts.providers.wechatpay_keys import decrypt_resource, load_public_key, verify_signature

    headers = request.headers
    if not verify_signature(
        public_key=load_public_key(settings.WECHATPAY_PUBLIC_KEY),
        timestamp=headers["Wechatpay-Timestamp"],
        nonce=headers["Wechatpay-Nonce"],
        body=body,
        signature=headers["Wechatpay-Signature"],
    ):
        raise ValueError("signature")
    data = json.loads(body)
    resource = decrypt_resource(data["resource"], settings.WECHATPAY_APIV3_KEY)
    amount = Decimal(resource["amount"]["total"]) / 100
    return data["id"], resource["out_trade_no"], amount, resource["transaction_id"]


@csrf_exempt
def minimal_callback(request, provider):
    event_id, transaction_id, amount, reference = _verified(provider, request, request.body)
    with transaction.atomic():
        payment_id, rental_id = (
            Payment.objects.filter(transaction_id=transaction_id, provider=provider)
            .values_list("pk", "rental_id")
            .get()
        )
        rental = Rental.objects.select_for_update().get(pk=rental_id)
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        try:
            with transaction.atomic():
                CallbackReceipt.objects.create(provider=provider, event_id=event_id, payment_id=payment_id)
        except IntegrityError:
            return JsonResponse({"status": "duplicate"})
        assert amount == payment.amount and payment.status == Payment.Status.PENDING
        PaymentEvent.objects.create(
            payment_id=payment_id,
            rental_id=rental_id,
            event="callback_received",
            provider=provider,
            payload={"verdict": "accepted", "event_id": event_id, "amount": str(amount)},
        )
        now = timezone.now()
        Payment.objects.filter(pk=payment_id).update(
            status=Payment.Status.PAID, paid_at=now, provider_reference=reference, updated_at=now
        )
        PaymentEvent.objects.create(
            payment_id=payment_id,
            rental_id=rental_id,
            event="status_changed",
            from_status=payment.status,
            to_status=Payment.Status.PAID,
            provider=provider,
            payload={"event_id": event_id, "source": "callback"},
        )
        rows = Payment.objects.filter(rental_id=rental_id).values_list(
            "transaction_type", "status", "amount", "goodwill_amount"
        )
        changed = rental.apply_figures(rental.figures_for(*sum_rows(rows)), now=now)
        Rental.objects.filter(pk=rental_id).update(updated_at=now, **{name: getattr(rental, name) for name in changed})
        params = {"order": rental_id, "amount": str(amount), "method": payment.payment_method}
        title, message = notice_in_default_language("payment_received", params)
        Notification.objects.create(
            user_id=payment.user_id,
            rental_id=rental.pk,
            notification_type=Notification.Type.PAYMENT_SUCCESS,
            kind="payment_received",
            params=params,
            title=title,
            message=message,
        )
    if provider == "alipay":
        return HttpResponse(b"success", content_type="text/plain; charset=utf-8")
    if provider == "wechatpay":
        return HttpResponse(status=204)
    return JsonResponse({"status": "accepted", "transaction_id": transaction_id, "event_id": event_id})


urlpatterns = [*project_urls, path("bench/minimal-callback/<str:provider>/", minimal_callback)]
