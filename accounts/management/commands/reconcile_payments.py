"""``python manage.py reconcile_payments --provider NAME --date YYYY-MM-DD [--file STATEMENT]``

Matches a provider's statement of one day with the ledger (SPEC §14) and
stores the day's ``ReconciliationRun`` (a rerun replaces it). Never changes
money. Exit codes: 0 clean (or another run holds the lock), 1 when the run has
an open discrepancy, 2 when the statement can't be had or used (malformed,
truncated, another day, another provider, another merchant; nothing is stored).
"""

import sys
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.providers import ProviderError
from accounts.reconciliation import service
from accounts.reconciliation.parsers import StatementError
from car_rental_system.joblock import holds_run_lock
from car_rental_system.money import format_cny

LOCK_NAME = "reconcile_payments"
MAX_STATEMENT_BYTES = 512 * 1024 * 1024


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--date must be YYYY-MM-DD, not {value[:20]!r}.", returncode=2) from None


class Command(BaseCommand):
    help = "Match a payment provider's statement of one day with the ledger and store the differences."

    def add_arguments(self, parser):
        parser.add_argument("--provider", required=True, choices=service.PROVIDER_NAMES)
        parser.add_argument("--date", required=True, help="The statement's day, YYYY-MM-DD (Asia/Shanghai).")
        parser.add_argument(
            "--file", help="Read the statement from this file (the provider's format) instead of its bill API."
        )

    @holds_run_lock(LOCK_NAME)
    def handle(self, *args, provider, date, file=None, verbosity=1, **options):
        day = _day(date)
        if file:
            path = Path(file)
            try:
                if path.stat().st_size > MAX_STATEMENT_BYTES:
                    raise CommandError(f"{file} is larger than a statement can be.", returncode=2)
                data = path.read_bytes()
            except OSError as exc:
                raise CommandError(f"Cannot read {file}: {exc.strerror or exc}.", returncode=2) from None
            source = "file"
        else:
            try:
                data = service.fetch_statement(provider, day)
            except ProviderError as exc:
                raise CommandError(
                    f"Could not get the {provider} statement of {day.isoformat()}: {exc}.", returncode=2
                ) from None
            source = "api"
        try:
            run = service.reconcile(provider=provider, day=day, data=data, source=source)
        except StatementError as exc:
            raise CommandError(
                f"The {provider} statement of {day.isoformat()} was not used: {exc} Nothing was stored.", returncode=2
            ) from None
        open_count = self.report(run, verbosity)
        if open_count:
            sys.stdout.flush()
            sys.exit(1)

    def report(self, run, verbosity: int) -> int:
        discrepancies = list(run.discrepancies.all())
        open_count = sum(1 for d in discrepancies if not d.resolved)
        if verbosity:
            w = self.stdout.write
            w(
                f"Reconciliation {run.provider} {run.day.isoformat()} (run #{run.pk}, {run.statement_rows} statement rows)"
            )
            w(
                f"  statement: {run.statement_charge_count} charges {format_cny(run.statement_charge_total)}, "
                f"{run.statement_refund_count} refunds {format_cny(run.statement_refund_total)}"
            )
            w(
                f"  ledger:    {run.ledger_charge_count} charges {format_cny(run.ledger_charge_total)}, "
                f"{run.ledger_refund_count} refunds {format_cny(run.ledger_refund_total)}"
            )
            w(f"  matched:   {run.matched_count}; provider fees {run.fees_total.normalize():f} (information only)")
            for d in discrepancies:
                w(
                    f"  {'resolved' if d.resolved else 'OPEN':8} {d.kind:15} {d.transaction_type:6} {d.transaction_id} "
                    f"ours {_money(d.our_amount)} {d.our_status or '—'} / theirs {_money(d.their_amount)} "
                    f"{d.their_status or '—'}{(' — ' + d.detail) if d.detail else ''}"
                )
            if open_count:
                w(self.style.WARNING(f"{open_count} open discrepancy(ies) of {len(discrepancies)}."))
            else:
                w(self.style.SUCCESS(f"Clean: no open discrepancy ({len(discrepancies)} resolved)."))
        return open_count


def _money(value) -> str:
    return "—" if value is None else format_cny(value)
