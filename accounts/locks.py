"""Payment row locks; always taken after the rental lock (rentals/locks.py)."""

from accounts.models import Payment


def lock_payment(payment_id) -> Payment:
    return Payment.objects.select_for_update().get(pk=payment_id)


def lock_open_charges(rental_id) -> list[Payment]:
    """The charges of a rental its customer can still complete (not those being closed)."""
    return list(
        Payment.objects.select_for_update()
        .filter(
            rental_id=rental_id,
            transaction_type=Payment.TransactionType.CHARGE,
            status__in=Payment.OPEN_STATUSES,
            closing_as="",
        )
        .order_by("id")
    )
