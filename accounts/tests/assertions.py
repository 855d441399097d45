"""The shared check that a rental's stored figures equal its Payment ledger.

It recomputes SPEC §4 from the raw Payment rows on its own (plain Python over
the rows, not ``Rental.money_figures``), so a bug in the model's derivation
can't hide itself.
"""

from decimal import ROUND_HALF_UP, Decimal

from accounts.models import Payment
from rentals.models import Rental

CENT = Decimal("0.01")


def _q(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def expected_figures(rental: Rental) -> dict:
    rows = list(
        Payment.objects.filter(rental_id=rental.pk).values("transaction_type", "status", "amount", "goodwill_amount")
    )
    paid = _q(
        sum((r["amount"] for r in rows if (r["transaction_type"], r["status"]) == ("CHARGE", "PAID")), Decimal(0))
    )
    refunded = _q(
        sum((r["amount"] for r in rows if (r["transaction_type"], r["status"]) == ("REFUND", "REFUNDED")), Decimal(0))
    )
    refunds = [r for r in rows if (r["transaction_type"], r["status"]) == ("REFUND", "REFUNDED")]
    goodwill = _q(sum((r["goodwill_amount"] for r in refunds), Decimal(0)))
    # SPEC §11: refunds asked of the provider and not yet confirmed or refused.
    in_flight = _q(
        sum(
            (
                r["amount"]
                for r in rows
                if r["transaction_type"] == "REFUND" and r["status"] in ("PENDING", "PROCESSING")
            ),
            Decimal(0),
        )
    )
    order_total = _q(
        rental.total_amount + rental.deposit + rental.cross_location_fee + rental.overdue_fee + rental.damage_fee
    )
    if rental.status in ("PENDING", "ONGOING", "OVERDUE"):
        owed = order_total
    elif rental.status == "COMPLETED":
        owed = _q(order_total - rental.deposit)
    else:
        owed = _q(rental.cancellation_fee)
    # SPEC §16: the goodwill part of staff refunds lowers what is owed, never below zero.
    owed = max(Decimal("0.00"), _q(owed - goodwill))
    net = paid - refunded
    remaining = max(Decimal("0.00"), _q(owed - net))
    refund_due = max(Decimal("0.00"), _q(net - owed - in_flight))
    if rental.status in ("COMPLETED", "CANCELLED") and remaining == 0 and refund_due == 0 and in_flight == 0:
        settlement = "SETTLED"
    elif paid > 0:
        settlement = "PARTIAL"
    else:
        settlement = "UNSETTLED"
    return {
        "paid": paid,
        "refunded": refunded,
        "goodwill": goodwill,
        "net_paid": net,
        "order_total": order_total,
        "remaining": remaining,
        "refund_due": refund_due,
        "refund_in_flight": in_flight,
        "settlement_status": settlement,
    }


def assert_ledger_consistent(rental: Rental) -> dict:
    """Assert the stored figures of ``rental`` equal its ledger; return the figures."""
    rental.refresh_from_db()
    expected = expected_figures(rental)
    assert rental.amount_paid == expected["paid"], (rental.pk, "amount_paid", rental.amount_paid, expected)
    assert rental.amount_refunded == expected["refunded"], (
        rental.pk,
        "amount_refunded",
        rental.amount_refunded,
        expected,
    )
    assert rental.goodwill_amount == expected["goodwill"], (
        rental.pk,
        "goodwill_amount",
        rental.goodwill_amount,
        expected,
    )
    assert rental.amount_refund_in_flight == expected["refund_in_flight"], (
        rental.pk,
        "amount_refund_in_flight",
        rental.amount_refund_in_flight,
        expected,
    )
    assert rental.settlement_status == expected["settlement_status"], (rental.pk, rental.settlement_status, expected)
    assert (rental.settled_at is not None) == (expected["settlement_status"] == "SETTLED"), (
        rental.pk,
        rental.settled_at,
    )
    assert expected["refunded"] + expected["refund_in_flight"] <= expected["paid"], (rental.pk, expected)
    assert expected["net_paid"] >= 0, (rental.pk, expected)
    figures = rental.money_figures()
    assert figures.remaining == expected["remaining"] and figures.refund_due == expected["refund_due"], (
        figures,
        expected,
    )
    return expected
