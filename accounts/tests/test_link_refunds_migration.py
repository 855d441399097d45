"""Migration 0006: refunds written before refunds named their charge are tied
to the charge they reversed where that can be told (same method, newest
charge with enough left first — the rule of ``charges_left``)."""

import importlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.utils import timezone

from accounts.models import Payment
from accounts.tests.factories import PaymentFactory, RefundFactory
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("accounts.migrations.0006_link_refunds_to_charges")


def test_old_refunds_are_linked_to_the_charge_they_reversed():
    rental = RentalFactory()
    now = timezone.now()
    old_alipay = PaymentFactory(
        rental=rental, amount=Decimal("500.00"), payment_method="ALIPAY", paid_at=now - timedelta(hours=3)
    )
    new_alipay = PaymentFactory(
        rental=rental, amount=Decimal("300.00"), payment_method="ALIPAY", paid_at=now - timedelta(hours=2)
    )
    wechat = PaymentFactory(
        rental=rental, amount=Decimal("400.00"), payment_method="WECHAT", paid_at=now - timedelta(hours=1)
    )
    linked = RefundFactory(rental=rental, amount=Decimal("100.00"), payment_method="ALIPAY", refund_of=new_alipay)
    first = RefundFactory(rental=rental, amount=Decimal("200.00"), payment_method="ALIPAY")  # 200 left of the newest
    second = RefundFactory(rental=rental, amount=Decimal("250.00"), payment_method="ALIPAY")  # only the older fits
    by_wechat = RefundFactory(rental=rental, amount=Decimal("400.00"), payment_method="WECHAT")
    too_big = RefundFactory(rental=rental, amount=Decimal("900.00"), payment_method="BANK")  # fits nothing

    migration.link_refunds(apps, None)
    migration.link_refunds(apps, None)  # a second run changes nothing

    links = dict(Payment.objects.filter(transaction_type="REFUND").values_list("pk", "refund_of_id"))
    assert links == {
        linked.pk: new_alipay.pk,
        first.pk: new_alipay.pk,
        second.pk: old_alipay.pk,
        by_wechat.pk: wechat.pk,
        too_big.pk: None,
    }
