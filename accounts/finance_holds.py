"""Deposit holds as the finance staff watch them (SPEC §18 "Pages"): what is
held at each provider, the releases due, and the holds whose provider expiry
comes before their release. Holds are not money: none of this is revenue or
a ledger sum. Each figure is one SQL statement, whatever the number of holds.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import DepositHold
from car_rental_system.money import ZERO, quantize_money

# A hold the provider would end before we release it is listed this long ahead.
EXPIRY_WARNING = timedelta(days=3)
HELD = DepositHold.Status.HELD
REST = F("amount") - F("captured_amount") - F("released_amount")
PROVIDER_LABELS = {
    "alipay": _("Alipay (资金预授权)"),
    "wechatpay": _("WeChat Pay Score (免押)"),
    "sandbox": _("Sandbox"),
}


def expiring_condition(now: datetime) -> Q:
    """HELD holds whose provider expiry is within EXPIRY_WARNING of ``now`` (or
    past) and before their release (or with no release date yet)."""
    return Q(status=HELD, expires_at__isnull=False, expires_at__lte=now + EXPIRY_WARNING) & (
        Q(release_after__isnull=True) | Q(expires_at__lt=F("release_after"))
    )


def expiring_holds(now: datetime | None = None) -> QuerySet:
    return DepositHold.objects.filter(expiring_condition(now or timezone.now()))


def dashboard_holds(now: datetime | None = None) -> dict[str, Any]:
    """Per provider, the count of HELD holds and what they still hold; the
    releases due (HELD holds past ``release_after``: count and what they
    hold) and the count of expiring holds: one grouped query."""
    now = now or timezone.now()
    due = Q(release_after__lte=now)
    rows = list(
        DepositHold.objects.filter(status=HELD)
        .values("provider")
        .annotate(
            count=Count("id"),
            still_held=Sum(REST),
            due_count=Count("id", filter=due),
            due_rest=Sum(REST, filter=due),
            expiring_count=Count("id", filter=expiring_condition(now)),
        )
        .order_by("provider")
    )
    by_provider = [
        {
            "provider": r["provider"],
            "label": PROVIDER_LABELS.get(r["provider"], r["provider"]),
            "count": r["count"],
            "held": quantize_money(r["still_held"] or ZERO),
        }
        for r in rows
    ]
    total: Decimal = quantize_money(sum((row["held"] for row in by_provider), ZERO))
    return {
        "holds_by_provider": by_provider,
        "holds_held_total": total,
        "holds_held_count": sum(r["count"] for r in rows),
        "releases_due_count": sum(r["due_count"] for r in rows),
        "releases_due_total": quantize_money(sum((r["due_rest"] or ZERO for r in rows), ZERO)),
        "expiring_count": sum(r["expiring_count"] for r in rows),
    }
