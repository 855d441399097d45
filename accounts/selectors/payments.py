"""Reads of the payment ledger: a rental's payment summary, who and how a refund goes back, the open charge."""

from decimal import Decimal
from typing import Any

from accounts.models import Payment
from accounts.refund_rules import receiver_id, refundable_charges
from rentals.models import Rental


def get_payment_summary(rental: Rental) -> dict[str, Decimal]:
    """The §4 figures of a rental, straight from its Payment rows.

    Called as SPEC §4 writes it, ``get_payment_summary(rental)``; the keyword
    ``rental=`` works too (SPEC §17).
    """
    figures = rental.money_figures()
    return {
        "paid_amount": figures.paid,
        "refunded_amount": figures.refunded,
        "net_paid": figures.net_paid,
        "order_total_amount": figures.order_total,
        "remaining_amount": figures.remaining,
        "refund_due": figures.refund_due,
        "refund_in_flight": figures.refund_in_flight,
    }


def refund_recipient(*, rental: Rental) -> Any:
    """Who gets money back by hand (SPEC §5, §16): ``receiver_id`` for the
    newest charge that still has money left to give back, else the
    customer's user, else None (nobody: handed back in cash)."""
    from django.contrib.auth import get_user_model

    charges = refundable_charges(rental=rental)
    user_id = receiver_id(
        charge_user_id=charges[0].user_id if charges else None, customer_user_id=rental.customer.user_id
    )
    if user_id is None:
        return None
    if user_id == rental.customer.user_id:
        return rental.customer.user
    return get_user_model().objects.get(pk=user_id)


def refund_method(*, rental: Rental) -> str:
    """Money goes back the way it came: the method of the newest charge with
    money left to give back; BANK when there is none."""
    charges = refundable_charges(rental=rental)
    return charges[0].method if charges else Payment.Method.BANK


ONLINE_METHODS = (Payment.Method.ALIPAY, Payment.Method.WECHAT, Payment.Method.BANK)


def available_methods() -> list[str]:
    """The online methods the pay page offers: those whose provider (SPEC §13
    ``provider_for_method``) can take a charge now. With the sandbox switched
    off in production, a method that would land on it (a bank card, Alipay
    without ``ALIPAY_APP_ID``) is not offered."""
    from accounts import providers

    methods: list[str] = []
    for method in ONLINE_METHODS:
        try:
            usable = providers.provider_for_method(method).is_usable()
        except providers.ProviderError:  # a provider this build does not have
            usable = False
        if usable:
            methods.append(method)
    return methods


def open_charge(*, rental: Rental) -> Payment | None:
    return Payment.objects.filter(
        rental=rental,
        transaction_type=Payment.TransactionType.CHARGE,
        status__in=Payment.OPEN_STATUSES,
        closing_as="",
    ).first()
