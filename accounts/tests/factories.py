from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import Notification, Payment, PaymentEvent, Review
from rentals.tests.factories import RentalFactory


class PaymentFactory(factory.django.DjangoModelFactory):
    """A PAID charge by the rental's customer. Call ``rental.refresh_financials()``
    after creating ledger rows directly, as the services do."""

    class Meta:
        model = Payment

    rental = factory.SubFactory(RentalFactory)
    user = factory.LazyAttribute(lambda p: p.rental.customer.user)
    amount = Decimal("100.00")
    payment_method = Payment.Method.ALIPAY
    transaction_type = Payment.TransactionType.CHARGE
    status = Payment.Status.PAID
    transaction_id = factory.Sequence(lambda n: f"PAYTEST{n:010d}")
    provider = "sandbox"
    paid_at = factory.LazyFunction(timezone.now)


class PendingChargeFactory(PaymentFactory):
    status = Payment.Status.PENDING
    paid_at = None
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=30))


class RefundFactory(PaymentFactory):
    transaction_type = Payment.TransactionType.REFUND
    status = Payment.Status.REFUNDED
    transaction_id = factory.Sequence(lambda n: f"REFTEST{n:010d}")
    provider = "internal"


class PaymentEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentEvent

    payment = factory.SubFactory(PaymentFactory)
    rental = factory.SelfAttribute("payment.rental")
    event = "created"
    to_status = Payment.Status.PENDING


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    rental = factory.SubFactory(RentalFactory)
    user = factory.LazyAttribute(lambda n: n.rental.customer.user)
    notification_type = Notification.Type.PAYMENT_SUCCESS
    title = "Payment received"
    message = ""


class ReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Review

    rental = factory.SubFactory(RentalFactory)
    rating = 5
    comment = "Clean car, quick hand-over."
