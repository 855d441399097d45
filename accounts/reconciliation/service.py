"""Run one provider's reconciliation of one day and store it (SPEC §14).

``reconcile(provider=…, day=…, data=…)`` reads the whole statement first (a
malformed, truncated, wrong-day, other-provider or other-merchant statement raises
:class:`StatementError` and nothing is stored), then matches it with the
ledger by transaction id in both directions and replaces the day's
``ReconciliationRun`` in one transaction. It never touches a Payment.
"""

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.finance import day_range, site_tz
from accounts.models import Discrepancy, Payment, ReconciliationRun
from accounts.providers import get_provider
from accounts.reconciliation.matching import (
    KIND_OF_TYPE,
    MISSING_THERE,
    Finding,
    LedgerRow,
    compare,
    missing_there,
)
from accounts.reconciliation.parsers import (
    CHARGE,
    FAILED,
    StatementError,
    StatementRow,
    parse_statement,
)

PROVIDER_NAMES = ("alipay", "wechatpay", "sandbox")
LOOKUP_CHUNK = 500
# How far around the day other runs are read for rows they matched on another day.
NEIGHBOUR_DAYS = 40
ZERO = Decimal("0.00")


@dataclass
class Totals:
    charge_count: int = 0
    charge_total: Decimal = ZERO
    refund_count: int = 0
    refund_total: Decimal = ZERO

    def add(self, kind: str, amount: Decimal) -> None:
        if kind == CHARGE:
            self.charge_count += 1
            self.charge_total += amount
        else:
            self.refund_count += 1
            self.refund_total += amount


def configured_providers() -> list[str]:
    """The providers whose statements the daily job fetches."""
    from accounts.providers.sandbox import sandbox_enabled

    names = []
    if getattr(settings, "ALIPAY_APP_ID", ""):
        names.append("alipay")
    if getattr(settings, "WECHATPAY_MCHID", ""):
        names.append("wechatpay")
    if sandbox_enabled():
        names.append("sandbox")
    return names


def fetch_statement(provider: str, day: date) -> bytes:
    """The statement through the provider's bill API (ProviderError when it can't be had)."""
    return get_provider(provider).fetch_statement(day=day)


def our_merchant(provider: str) -> str:
    """Our merchant account at ``provider``, which its statements must name (SPEC §17): WeChat
    Pay ``WECHATPAY_MCHID``, Alipay ``ALIPAY_PID``; empty (not checked) when unset."""
    setting = {"wechatpay": "WECHATPAY_MCHID", "alipay": "ALIPAY_PID"}.get(provider)
    return str(getattr(settings, setting, "") or "").strip() if setting else ""


def _read_statement(provider: str, data: bytes, day: date):
    statement: dict[tuple[str, str], StatementRow] = {}
    totals, fees, rows = Totals(), Decimal(0), 0
    for row in parse_statement(provider, data, day=day, merchant=our_merchant(provider)):
        key = (row.kind, row.transaction_id)
        if key in statement:
            raise StatementError(f"{row.transaction_id} appears twice on the statement.")
        statement[key] = row
        rows += 1
        fees += row.fee
        if row.status != FAILED:
            totals.add(row.kind, row.amount)
    return statement, totals, fees, rows


def _ledger_rows(qs):
    for pk, tx, ttype, status, amount, paid_at, provider in qs.values_list(
        "pk", "transaction_id", "transaction_type", "status", "amount", "paid_at", "provider"
    ).iterator(chunk_size=2000):
        yield LedgerRow(pk, tx, KIND_OF_TYPE[ttype], status, amount, paid_at, provider)


def _ledger_of_day(provider: str, day: date) -> dict[str, LedgerRow]:
    """Charges PAID and refunds REFUNDED through ``provider`` whose money moved on ``day`` (local)."""
    start, end = day_range(day, day)
    qs = Payment.objects.filter(provider=provider, paid_at__gte=start, paid_at__lt=end).filter(
        Q(transaction_type=Payment.TransactionType.CHARGE, status=Payment.Status.PAID)
        | Q(transaction_type=Payment.TransactionType.REFUND, status=Payment.Status.REFUNDED)
    )
    return {row.transaction_id: row for row in _ledger_rows(qs)}


def _ledger_anywhere(transaction_ids: list[str]) -> dict[str, LedgerRow]:
    found = {}
    for i in range(0, len(transaction_ids), LOOKUP_CHUNK):
        chunk = transaction_ids[i : i + LOOKUP_CHUNK]
        for row in _ledger_rows(Payment.objects.filter(transaction_id__in=chunk)):
            found[row.transaction_id] = row
    return found


def _matched_on_other_days(provider: str, day: date) -> set[str]:
    carried: set[str] = set()
    lists = (
        ReconciliationRun.objects.filter(
            provider=provider,
            day__gte=day - timedelta(days=NEIGHBOUR_DAYS),
            day__lte=day + timedelta(days=NEIGHBOUR_DAYS),
        )
        .exclude(day=day)
        .values_list("matched_elsewhere", flat=True)
    )
    for ids in lists:
        carried.update(ids or ())
    return carried


def match(provider: str, day: date, statement: dict) -> tuple[list[Finding], Totals, int, list[str]]:
    """Findings, the ledger's totals, the matched count and the ids matched with another day's row."""
    ledger = _ledger_of_day(provider, day)
    ledger_totals = Totals()
    for row in ledger.values():
        ledger_totals.add(row.kind, row.amount)
    elsewhere = _ledger_anywhere([tx for (_kind, tx) in statement if tx not in ledger])
    local = site_tz()
    findings: list[Finding] = []
    seen: set[str] = set()
    matched_elsewhere: list[str] = []
    matched = 0
    for (kind, tx), row in statement.items():
        ours = ledger.get(tx)
        if ours is not None and ours.kind != kind:
            ours = None  # e.g. an Alipay refund row without its request number, keyed by the charge's id
        elif ours is not None:
            seen.add(tx)
        else:
            ours = elsewhere.get(tx)
            if ours is not None and ours.kind != kind:
                ours = None
            elif ours is not None and ours.provider != provider:
                missing = compare(row, None)
                assert missing is not None  # a statement row with no row of ours always differs
                findings.append(
                    missing._replace(
                        payment_id=ours.payment_id,
                        our_amount=ours.amount,
                        our_status=ours.status,
                        detail=f"In the ledger under the provider {ours.provider or '—'}.",
                    )
                )
                continue
            elif ours is not None:
                matched_elsewhere.append(tx)
        finding = compare(row, ours)
        if finding is None:
            matched += 1
            continue
        if ours is not None and ours.paid_at is not None and tx not in seen:
            finding = finding._replace(
                detail=f"Money moved here on {timezone.localtime(ours.paid_at, local):%Y-%m-%d}."
            )
        findings.append(finding)
    carried = _matched_on_other_days(provider, day) if len(seen) < len(ledger) else set()
    for tx, ours in ledger.items():
        if tx not in seen and tx not in carried:
            findings.append(missing_there(ours))
    return findings, ledger_totals, matched, matched_elsewhere


def reconcile(*, provider: str, day: date, data: bytes, source: str = "api") -> ReconciliationRun:
    """Reconcile ``provider``'s statement ``data`` of ``day``; replaces that day's run."""
    if provider not in PROVIDER_NAMES:
        raise StatementError(f"Unknown provider {provider[:20]!r}.")
    started = timezone.now()
    statement, statement_totals, fees, rows = _read_statement(provider, data, day)
    findings, ledger_totals, matched, matched_elsewhere = match(provider, day, statement)
    fields = {
        "started_at": started,
        "source": source,
        "statement_sha256": hashlib.sha256(data).hexdigest(),
        "statement_rows": rows,
        "statement_charge_count": statement_totals.charge_count,
        "statement_charge_total": statement_totals.charge_total,
        "statement_refund_count": statement_totals.refund_count,
        "statement_refund_total": statement_totals.refund_total,
        "ledger_charge_count": ledger_totals.charge_count,
        "ledger_charge_total": ledger_totals.charge_total,
        "ledger_refund_count": ledger_totals.refund_count,
        "ledger_refund_total": ledger_totals.refund_total,
        "matched_count": matched,
        "fees_total": fees,
        "matched_elsewhere": matched_elsewhere,
    }
    try:
        return _store(provider=provider, day=day, fields=fields, findings=findings)
    except IntegrityError:
        # Another run stored the day first (its row did not exist to be locked):
        # now it does, so this run waits for it and replaces it.
        return _store(provider=provider, day=day, fields=fields, findings=findings)


def _store(*, provider: str, day: date, fields: dict, findings: list[Finding]) -> ReconciliationRun:
    """Replace the day's run (locked, so reruns of a day queue up) and its discrepancies."""
    with transaction.atomic():
        previous = ReconciliationRun.objects.select_for_update().filter(provider=provider, day=day).first()
        kept = {}
        if previous is not None:
            # Staff's word on a difference that is still there survives the rerun.
            kept = {
                (d.kind, d.transaction_id): d for d in previous.discrepancies.filter(Q(resolved=True) | ~Q(note=""))
            }
            previous.delete()
        run = ReconciliationRun.objects.create(provider=provider, day=day, **fields)
        discrepancies = []
        for f in findings:
            before = kept.get((f.kind, f.transaction_id))
            discrepancies.append(
                Discrepancy(
                    run=run,
                    kind=f.kind,
                    transaction_type=f.transaction_type,
                    transaction_id=f.transaction_id[:64],
                    payment_id=f.payment_id,
                    our_amount=f.our_amount,
                    their_amount=f.their_amount,
                    our_status=f.our_status,
                    their_status=f.their_status[:40],
                    detail=f.detail[:255],
                    resolved=before.resolved if before else False,
                    note=before.note if before else "",
                    resolved_by_id=before.resolved_by_id if before else None,
                    resolved_at=before.resolved_at if before else None,
                )
            )
        Discrepancy.objects.bulk_create(discrepancies, batch_size=1000)
        _close_found_elsewhere(provider, day, run, fields["matched_elsewhere"])
        run.finished_at = timezone.now()
        run.save(update_fields=["finished_at"])
    return run


def _close_found_elsewhere(provider: str, day: date, run: ReconciliationRun, transaction_ids: list[str]) -> None:
    """A row another day's run reported missing from its statement is on this one: that difference is closed."""
    now = timezone.now()
    for i in range(0, len(transaction_ids), LOOKUP_CHUNK):
        Discrepancy.objects.filter(
            run__provider=provider,
            kind=MISSING_THERE,
            resolved=False,
            transaction_id__in=transaction_ids[i : i + LOOKUP_CHUNK],
        ).exclude(run=run).update(
            resolved=True, resolved_at=now, note=f"On the statement of {day.isoformat()} (run #{run.pk})."
        )


def open_discrepancies(run: ReconciliationRun) -> int:
    return run.discrepancies.filter(resolved=False).count()
