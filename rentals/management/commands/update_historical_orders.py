"""Repair order history at scale (SPEC §9): statuses by time, refunds still
due on closed orders, stored financials from the ledger. The work itself lives
in ``rentals.ops.update_historical_orders``."""

import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from car_rental_system.joblock import holds_run_lock
from car_rental_system.money import format_cny
from rentals.models import Rental, status_label
from rentals.ops import DEFAULT_BATCH_SIZE, HistoryRunAborted, Summary, update_historical_orders

MANUAL_IDS_SHOWN = 20


def _show(value) -> str:
    if value is None:
        return "—"
    if hasattr(value, "quantize"):
        return format_cny(value)
    if hasattr(value, "tzinfo"):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    return str(value)


def change_lines(summary: Summary) -> list[str]:
    """One line per change, ordered by order id (the dry-run listing)."""
    lines = []
    for move in summary.status_moves:
        moved = {
            "from": status_label(Rental.Status, move.from_status),
            "to": status_label(Rental.Status, move.to_status),
        }
        lines.append((move.rental_id, 0, _("status    %(from)s → %(to)s") % moved))
    for refund in summary.refunds:
        lines.append(
            (
                refund.rental_id,
                1,
                _("refund    %(amount)s to user %(user)s (%(reason)s)")
                % {"amount": format_cny(refund.amount), "user": refund.recipient_id, "reason": refund.reason},
            )
        )
    for manual in summary.manual:
        lines.append(
            (
                manual.rental_id,
                1,
                _("manual    %(amount)s due back, nobody to refund: needs manual handling")
                % {"amount": format_cny(manual.amount)},
            )
        )
    for correction in summary.corrections:
        changes = "; ".join(f"{name} {_show(old)} → {_show(new)}" for name, old, new in correction.changes)
        lines.append((correction.rental_id, 2, _("figures   %(changes)s") % {"changes": changes}))
    return [f"#{pk:<8} {text}" for pk, _order, text in sorted(lines, key=lambda line: line[:2])]


def summary_table(summary: Summary, title: str | None = None) -> list[str]:
    to_ongoing = sum(1 for m in summary.status_moves if m.to_status == "ONGOING")
    to_overdue = sum(1 for m in summary.status_moves if m.to_status == "OVERDUE")
    lapsed = sum(1 for m in summary.status_moves if m.to_status == "CANCELLED")
    manual_ids = ", ".join(f"#{m.rental_id}" for m in summary.manual[:MANUAL_IDS_SHOWN])
    if len(summary.manual) > MANUAL_IDS_SHOWN:
        manual_ids += ", " + _("and %(count)s more") % {"count": len(summary.manual) - MANUAL_IDS_SHOWN}
    rows = [
        (_("orders scanned"), f"{summary.scanned:,}", ""),
        (
            _("statuses moved"),
            f"{len(summary.status_moves):,}",
            _("→ ONGOING %(ongoing)s, → OVERDUE %(overdue)s, unpaid bookings released %(lapsed)s")
            % {"ongoing": f"{to_ongoing:,}", "overdue": f"{to_overdue:,}", "lapsed": f"{lapsed:,}"},
        ),
        (
            _("refunds written"),
            f"{len(summary.refunds):,}",
            _("total %(total)s") % {"total": format_cny(summary.refund_total)},
        ),
        (_("financial rows corrected"), f"{len(summary.corrections):,}", ""),
        (_("needs manual handling"), f"{len(summary.manual):,}", manual_ids),
        (_("errors"), f"{len(summary.errors):,}", ", ".join(f"#{e.rental_id}" for e in summary.errors)),
    ]
    if summary.failed_refunds:
        # Never sent again by this command (SPEC §11): staff retry them or settle by hand.
        rows.insert(
            -1,
            (
                _("refunds refused, for staff"),
                f"{len(summary.failed_refunds):,}",
                ", ".join(f"#{pk}" for pk in summary.failed_refunds[:MANUAL_IDS_SHOWN]),
            ),
        )
    width = max(len(label) for label, _count, _note in rows)
    if title is None:
        title = _("DRY RUN: nothing was written; a real run would do this:") if summary.dry_run else _("Done:")
    return [title] + [f"  {label:<{width}}  {count:>9}  {note}".rstrip() for label, count, note in rows]


class Command(BaseCommand):
    help = (
        "Move rental statuses by time, refund what completed and cancelled orders no longer owe "
        "(once, to the user on their payments or the customer's user; orders with nobody to refund "
        "are reported as needing manual handling), and store the ledger's figures on every order. "
        "Works in batches, each in its own transaction; safe to rerun. Exits with status 1 when any "
        "order failed (listed with its id) or a batch could not be finished."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Print every change a real run would make; write nothing."
        )
        parser.add_argument("--skip-status-update", action="store_true", help="Do not move statuses by time.")
        parser.add_argument(
            "--skip-deposit-refund",
            action="store_true",
            help="Skip the whole refund step (completed and cancelled orders alike).",
        )
        parser.add_argument(
            "--skip-financial-refresh", action="store_true", help="Do not store ledger figures on the orders."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Orders per batch and transaction (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument("--rental", type=int, dest="rental_id", metavar="ID", help="Process this one order only.")

    @holds_run_lock("update_historical_orders")
    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError(_("--batch-size must be at least 1."))
        if options["rental_id"] is not None:
            from rentals.models import Rental

            if not Rental.objects.filter(pk=options["rental_id"]).exists():
                raise CommandError(_("Order #%(id)s does not exist.") % {"id": options["rental_id"]}, returncode=1)
        verbosity = options["verbosity"]
        bar = self._progress_bar(options, verbosity)
        try:
            summary = update_historical_orders(
                dry_run=options["dry_run"],
                skip_status_update=options["skip_status_update"],
                skip_deposit_refund=options["skip_deposit_refund"],
                skip_financial_refresh=options["skip_financial_refresh"],
                batch_size=options["batch_size"],
                rental_id=options["rental_id"],
                progress=bar.update if bar is not None else None,
            )
        except HistoryRunAborted as aborted:
            if bar is not None:
                bar.close()
            self._report(aborted.summary, verbosity, title=_("Stopped early; the batches before the failure are done:"))
            raise CommandError(
                _(
                    "Stopped in the batch after order #%(id)s (%(cause)s). Finished batches are kept; run the command again to finish."
                )
                % {"id": aborted.after_id, "cause": aborted.cause},
                returncode=1,
            ) from aborted
        if bar is not None:
            bar.close()
        self._report(summary, verbosity)
        if summary.errors:
            raise CommandError(
                _("%(count)s order(s) failed and were skipped; the others are done.") % {"count": len(summary.errors)},
                returncode=1,
            )

    def _progress_bar(self, options, verbosity):
        if verbosity == 0 or not sys.stderr.isatty():
            return None
        from tqdm import tqdm

        from rentals.models import Rental

        total = 1 if options["rental_id"] is not None else Rental.objects.count()
        return tqdm(total=total, unit=" orders", desc=_("orders"), file=sys.stderr, dynamic_ncols=True)

    def _report(self, summary: Summary, verbosity: int, title: str | None = None) -> None:
        for error in summary.errors:
            self.stderr.write(f"#{error.rental_id:<8} error ({error.step}): {error.message}")
        if verbosity == 0:
            return
        if summary.dry_run or verbosity >= 2:
            for line in change_lines(summary):
                self.stdout.write(line)
        for line in summary_table(summary, title):
            self.stdout.write(line)
