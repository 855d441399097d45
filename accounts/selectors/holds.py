"""The deposit holds of one order as its page shows them (SPEC §18 "Pages").

An order whose deposit is paid as money or waived (CHARGE, WAIVED) has no
hold to read and costs no query here. A HOLD or CREDIT order's holds come with
their releases in one statement (holds LEFT JOIN releases), and its payments
(read anyway) with the traffic fine each take pays for, joined in the same
statement; the takes of a hold are its CHARGE rows among those payments.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_lazy

from accounts.models import DepositHold, HoldRelease, Payment, TakeReason, TrafficFine
from car_rental_system.compiled_queries import CompiledQuery
from car_rental_system.money import ZERO, format_cny, quantize_money
from rentals.models import Rental

HOLD_FIELDS = tuple(f.attname for f in DepositHold._meta.concrete_fields)
RELEASE_FIELDS = ("id", "request_id", "kind", "amount", "status", "reason", "created_at", "confirmed_at")

HOLDS_WITH_RELEASES = CompiledQuery(
    lambda rental_id: (
        DepositHold.objects.filter(rental_id=rental_id)
        .values(*HOLD_FIELDS, *(f"releases__{name}" for name in RELEASE_FIELDS))
        .order_by("created_at", "id", "releases__created_at", "releases__id")
    )
)
# The payments of a HOLD/CREDIT order with the traffic fine a take pays for.
HOLD_ORDER_PAYMENTS = CompiledQuery(
    lambda rental_id: (
        Payment.objects.filter(rental_id=rental_id).select_related("traffic_fine").order_by("created_at", "id")
    )
)

# Where the deposit is, by the hold's provider.
WHERE = {
    "alipay": gettext_lazy("{amount} frozen in Alipay (资金预授权)"),
    "wechatpay": gettext_lazy("{amount} guaranteed by WeChat Pay Score (免押)"),
    "sandbox": gettext_lazy("{amount} held in the sandbox (test payments, no real money)"),
}
STATUS_WORDS = {
    DepositHold.Status.PENDING: gettext_lazy("Waiting for you to confirm it with the provider"),
    DepositHold.Status.HELD: gettext_lazy("Held: nothing has left your account"),
    DepositHold.Status.RELEASED: gettext_lazy("Released: nothing more is held"),
    DepositHold.Status.FAILED: gettext_lazy("Refused by the provider"),
    DepositHold.Status.CANCELLED: gettext_lazy("Cancelled: nothing is held"),
    DepositHold.Status.EXPIRED: gettext_lazy("Ended at the provider: nothing is held"),
}


def shows_holds(rental: Rental) -> bool:
    return rental.deposit_mode in Rental.HELD_DEPOSIT_MODES


def attach_holds(rental: Rental) -> None:
    """Load the rental's holds with their releases (one query) as prefetched
    ``rental.holds.all()`` and ``hold.releases.all()``."""
    holds: dict[int, DepositHold] = {}
    releases: dict[int, list[HoldRelease]] = {}
    for row in HOLDS_WITH_RELEASES.fetch(rental.pk):
        hold_id = row["id"]
        if hold_id not in holds:
            holds[hold_id] = DepositHold(**{name: row[name] for name in HOLD_FIELDS})
            holds[hold_id]._state.adding = False
            holds[hold_id]._state.fields_cache["rental"] = rental
            releases[hold_id] = []
        if row["releases__id"] is not None:
            release = HoldRelease(hold_id=hold_id, **{name: row[f"releases__{name}"] for name in RELEASE_FIELDS})
            release._state.adding = False
            releases[hold_id].append(release)
    for hold_id, hold in holds.items():
        _set_prefetched(hold, "releases", releases[hold_id])
    _set_prefetched(rental, "holds", list(holds.values()))


def _set_prefetched(instance: Any, name: str, rows: list) -> None:
    loaded = getattr(instance, name).all()
    loaded._result_cache = rows
    loaded._prefetch_done = True
    cache = getattr(instance, "_prefetched_objects_cache", None)
    if cache is None:
        cache = instance._prefetched_objects_cache = {}
    cache[name] = loaded


@dataclass(frozen=True)
class Take:
    amount: Decimal
    reason: str
    fine_reference: str
    done: bool
    when: datetime


@dataclass(frozen=True)
class HoldView:
    hold: DepositHold
    where: str
    status_words: str
    takes: list[Take] = field(default_factory=list)
    taken: Decimal = ZERO
    released: Decimal = ZERO
    releasing: Decimal = ZERO
    held: Decimal = ZERO
    release_note: str = ""
    refused_reason: str = ""


def take_reason_label(code: str) -> str:
    return str(TakeReason(code).label) if code in TakeReason.values else gettext("Fees")


def _take(payment: Payment) -> Take:
    fine = _fine(payment)
    return Take(
        amount=payment.amount,
        reason=take_reason_label(payment.take_reason),
        fine_reference=fine.reference if fine is not None else "",
        done=payment.status == Payment.Status.PAID,
        when=payment.paid_at or payment.created_at,
    )


def _fine(payment: Payment) -> Any:
    """The traffic fine a take pays for (joined with the payments), or None."""
    try:
        return payment.traffic_fine
    except TrafficFine.DoesNotExist:
        return None


def release_note(hold: DepositHold) -> str:
    """When the rest of a HELD hold goes back, in local time."""
    if hold.status != DepositHold.Status.HELD or hold.rest <= ZERO or hold.release_after is None:
        return ""
    return gettext("The remaining %(amount)s will be released on %(date)s.") % {
        "amount": format_cny(hold.rest),
        "date": date_format(timezone.localtime(hold.release_after), "Y-m-d H:i"),
    }


def hold_view(hold: DepositHold, payments: list[Payment]) -> HoldView:
    takes = [
        _take(p)
        for p in payments
        if p.hold_id == hold.pk
        and p.transaction_type == Payment.TransactionType.CHARGE
        and p.status in (Payment.Status.PAID, *Payment.OPEN_STATUSES)
    ]
    releases = list(hold.releases.all())
    where = WHERE.get(hold.provider, gettext_lazy("{amount} held at the provider"))
    return HoldView(
        hold=hold,
        where=str(where).format(amount=format_cny(hold.amount)),
        status_words=str(STATUS_WORDS.get(DepositHold.Status(hold.status), hold.status)),
        takes=takes,
        taken=quantize_money(sum((t.amount for t in takes if t.done), ZERO)),
        released=quantize_money(sum((r.amount for r in releases if r.status == HoldRelease.Status.DONE), ZERO)),
        releasing=quantize_money(sum((r.amount for r in releases if r.status == HoldRelease.Status.PENDING), ZERO)),
        held=hold.held,
        release_note=release_note(hold),
        refused_reason=hold.failure_reason if hold.status == DepositHold.Status.FAILED else "",
    )


def deposit_holds(rental: Rental) -> list[HoldView]:
    """The holds of a HOLD/CREDIT order, newest first (none for other orders;
    no query once ``attach_holds`` ran)."""
    if not shows_holds(rental):
        return []
    payments = list(rental.payments.all())
    return [hold_view(hold, payments) for hold in reversed(list(rental.holds.all()))]
