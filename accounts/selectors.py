"""Reads of the payment ledger."""

from decimal import Decimal

from accounts.models import Payment
from rentals.models import Rental


def get_payment_summary(rental: Rental) -> dict[str, Decimal]:
    """The §4 figures of a rental, straight from its Payment rows."""
    figures = rental.money_figures()
    return {
        "paid_amount": figures.paid,
        "refunded_amount": figures.refunded,
        "net_paid": figures.net_paid,
        "order_total_amount": figures.order_total,
        "remaining_amount": figures.remaining,
        "refund_due": figures.refund_due,
    }


def latest_paid_charge(rental: Rental) -> Payment | None:
    return (
        Payment.objects.filter(
            rental=rental, transaction_type=Payment.TransactionType.CHARGE, status=Payment.Status.PAID
        )
        .order_by("-paid_at", "-id")
        .first()
    )


def refund_recipient(rental: Rental):
    """Who gets money back (SPEC §5): the user found on the order's paid charges
    (latest first), else the customer's user, else None (manual handling)."""
    payer = (
        Payment.objects.filter(
            rental=rental,
            transaction_type=Payment.TransactionType.CHARGE,
            status=Payment.Status.PAID,
            user__isnull=False,
        )
        .select_related("user")
        .order_by("-paid_at", "-id")
        .first()
    )
    if payer is not None:
        return payer.user
    return rental.customer.user


def refund_method(rental: Rental) -> str:
    """Money goes back the way it came: the method of the latest paid charge, BANK when none."""
    charge = latest_paid_charge(rental)
    return charge.payment_method if charge else Payment.Method.BANK


def open_charge(rental: Rental) -> Payment | None:
    return Payment.objects.filter(
        rental=rental, transaction_type=Payment.TransactionType.CHARGE, status__in=Payment.OPEN_STATUSES
    ).first()
