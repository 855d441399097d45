"""The CSV of a customer's year (SPEC §7): one row per order with its fees and
figures (``accounts.figures``, from the stored sums), then the year's totals
as the report page shows them. Orders are read in chunks; the file is
streamed, never held in memory."""

from datetime import datetime

from django.utils import timezone

from accounts.consumption import FEES, STORED_FEES, Period, site_tz, totals
from accounts.figures import value_of
from car_rental_system.money import quantize_money
from rentals.models import Rental

CSV_CHUNK_SIZE = 500


def csv_header() -> list[str]:
    from django.utils.translation import gettext

    return [
        gettext("Order"),
        gettext("Booked"),
        gettext("Car"),
        gettext("Pick-up"),
        gettext("Return"),
        gettext("Status"),
        gettext("Payment status"),
        gettext("Rental fee"),
        gettext("Member discount"),
        gettext("Deposit"),
        gettext("One-way fee"),
        gettext("Overdue fee"),
        gettext("Damage fee"),
        gettext("Cancellation fee"),
        gettext("Early-return fee"),
        gettext("Order total"),
        gettext("Paid"),
        gettext("Refunded"),
        gettext("Net paid"),
        gettext("Deposit held"),
        gettext("Spent"),
        gettext("Remaining to pay"),
        gettext("Refund due"),
        gettext("Refund in progress"),
    ]


# The money columns after the fees, as named in the totals.
CSV_FIGURES = (
    "order_total",
    "paid",
    "refunded",
    "net_paid",
    "deposit_held",
    "spent",
    "remaining",
    "refund_due",
    "refund_in_flight",
)


def _amount(value) -> str:
    return f"{quantize_money(value):.2f}"


def _local(value: datetime | None) -> str:
    return timezone.localtime(value, site_tz()).strftime("%Y-%m-%d %H:%M") if value else ""


def csv_order_values(rental: Rental, now: datetime) -> tuple[list[str], list]:
    """One order's cells: the texts, then the money columns (fees, then CSV_FIGURES)."""
    from accounts.selectors import payment_badge, remaining_so_far

    order = rental.stored_figures()
    so_far = rental.overdue_fee_so_far(now)
    money = (
        [value_of("rental_fee", rental)]
        + [getattr(rental, fee) for fee in STORED_FEES]
        + [
            order.order_total,
            order.paid,
            order.refunded,
            order.net_paid,
            order.deposit_held,
            order.spent,
            remaining_so_far(figures=order, overdue_so_far=so_far),
            order.refund_due,
            order.refund_in_flight,
        ]
    )
    texts = [
        str(rental.pk),
        _local(rental.created_at),
        f"{rental.vehicle.brand} {rental.vehicle.model} {rental.vehicle.plate_number}",
        _local(rental.start_time),
        _local(rental.end_time),
        str(rental.get_status_display()),
        str(payment_badge(rental=rental, figures=order, overdue_so_far=so_far)[1]),
    ]
    return texts, money


def csv_lines(customer, year: int, language: str):
    """CSV lines of the orders booked in ``year`` (newest first), then a totals
    row equal to the report's totals for that year: the byte-order mark first
    so spreadsheet programs read Chinese as UTF-8. Orders are read
    ``CSV_CHUNK_SIZE`` at a time (memory stays flat whatever the count)."""
    import csv

    from django.utils import translation
    from django.utils.translation import gettext

    from accounts.finance import _cell, _Echo

    writer = csv.writer(_Echo())
    period = Period(year)
    now = timezone.now()
    with translation.override(language):
        yield "\ufeff" + writer.writerow(csv_header())
        orders = (
            Rental.objects.filter(customer=customer)
            .filter(period.q())
            .select_related("vehicle")
            .order_by("-created_at", "-id")
        )
        for rental in orders.iterator(chunk_size=CSV_CHUNK_SIZE):
            texts, money = csv_order_values(rental, now)
            yield writer.writerow([_cell(text) for text in texts] + [_amount(value) for value in money])
        figures = totals(customer, period, now, with_fees=True).figures
        label = gettext("Total %(year)s") % {"year": year}
        yield writer.writerow(
            [label, "", "", "", "", "", ""] + [_amount(figures[name]) for name in (*FEES, *CSV_FIGURES)]
        )
