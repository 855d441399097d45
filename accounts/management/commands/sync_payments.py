"""``python manage.py sync_payments``: ask the providers about charges and
refunds left open for more than 5 minutes (lost callbacks) and apply their
answers (SPEC §11). Also a periodic job; one run at a time."""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from accounts.services import sync_payments
from car_rental_system.joblock import holds_run_lock


class Command(BaseCommand):
    help = (
        "Query the payment providers about charges and refunds PENDING or PROCESSING for more than "
        "5 minutes and apply the answers; close and expire unpaid charges past their window."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Ask and report; write nothing.")

    @holds_run_lock("sync_payments")
    def handle(self, *args, dry_run=False, verbosity=1, **options):
        lines = sync_payments(dry_run=dry_run)
        if not verbosity:
            return
        if dry_run:
            self.stdout.write(_("DRY RUN: nothing was written."))
        changed = [line for line in lines if line.action not in ("none", "unavailable")]
        self.stdout.write(
            _("Asked about %(asked)s payment(s); %(changed)s answer(s) to apply.")
            % {"asked": len(lines), "changed": len(changed)}
        )
        for line in lines:
            self.stdout.write(
                f"  {line.transaction_id} {line.kind} {line.answer or '—'} → {line.action} ({line.status})"
            )
