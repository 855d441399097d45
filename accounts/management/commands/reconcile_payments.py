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
from django.utils.translation import gettext as _

from accounts.models import Payment
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
        raise CommandError(
            _("--date must be YYYY-MM-DD, not %(value)s.") % {"value": repr(value[:20])}, returncode=2
        ) from None


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
                    raise CommandError(_("%(file)s is larger than a statement can be.") % {"file": file}, returncode=2)
                data = path.read_bytes()
            except OSError as exc:
                raise CommandError(
                    _("Cannot read %(file)s: %(error)s.") % {"file": file, "error": exc.strerror or exc}, returncode=2
                ) from None
            source = "file"
        else:
            try:
                data = service.fetch_statement(provider, day)
            except ProviderError as exc:
                raise CommandError(
                    _("Could not get the %(provider)s statement of %(day)s: %(error)s.")
                    % {"provider": provider, "day": day.isoformat(), "error": exc},
                    returncode=2,
                ) from None
            source = "api"
        try:
            run = service.reconcile(provider=provider, day=day, data=data, source=source)
        except StatementError as exc:
            raise CommandError(
                _("The %(provider)s statement of %(day)s was not used: %(error)s Nothing was stored.")
                % {"provider": provider, "day": day.isoformat(), "error": exc},
                returncode=2,
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
                _("Reconciliation %(provider)s %(day)s (run #%(run)s, %(rows)s statement rows)")
                % {"provider": run.provider, "day": run.day.isoformat(), "run": run.pk, "rows": run.statement_rows}
            )
            sides = (
                (
                    _("statement"),
                    run.statement_charge_count,
                    run.statement_charge_total,
                    run.statement_refund_count,
                    run.statement_refund_total,
                ),
                (
                    _("ledger"),
                    run.ledger_charge_count,
                    run.ledger_charge_total,
                    run.ledger_refund_count,
                    run.ledger_refund_total,
                ),
            )
            for side, charges, charge_total, refunds, refund_total in sides:
                w(
                    "  "
                    + _("%(side)s: %(charges)s charge(s) %(charge_total)s, %(refunds)s refund(s) %(refund_total)s")
                    % {
                        "side": side,
                        "charges": charges,
                        "charge_total": format_cny(charge_total),
                        "refunds": refunds,
                        "refund_total": format_cny(refund_total),
                    }
                )
            w(
                "  "
                + _("matched: %(count)s; provider fees %(fees)s (information only)")
                % {"count": run.matched_count, "fees": f"{run.fees_total.normalize():f}"}
            )
            for d in discrepancies:
                w("  " + _discrepancy_line(d))
            if open_count:
                w(
                    self.style.WARNING(
                        _("%(open)s open discrepancy(ies) of %(total)s.")
                        % {"open": open_count, "total": len(discrepancies)}
                    )
                )
            else:
                w(
                    self.style.SUCCESS(
                        _("Clean: no open discrepancy (%(count)s resolved).") % {"count": len(discrepancies)}
                    )
                )
        return open_count


def _discrepancy_line(d) -> str:
    """One difference: its state, kind and type by their labels, both sides' amounts and statuses."""
    our_status = Payment.Status(d.our_status).label if d.our_status in Payment.Status.values else d.our_status
    return _(
        "%(state)s %(kind)s %(type)s %(tx)s ours %(ours)s %(our_status)s / theirs %(theirs)s %(their_status)s%(detail)s"
    ) % {
        "state": _("resolved") if d.resolved else _("OPEN"),
        "kind": d.get_kind_display(),
        "type": d.get_transaction_type_display(),
        "tx": d.transaction_id,
        "ours": _money(d.our_amount),
        "our_status": our_status or "—",
        "theirs": _money(d.their_amount),
        "their_status": d.their_status or "—",
        "detail": (" — " + d.detail) if d.detail else "",
    }


def _money(value) -> str:
    return "—" if value is None else format_cny(value)
