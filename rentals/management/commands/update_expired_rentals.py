"""Keep rental statuses true between page views (the cron job of SPEC §9):
unpaid bookings past their payment window lapse (SPEC §16), paid ones move
PENDING → ONGOING at start_time, PENDING/ONGOING → OVERDUE after end_time, cars
RENTED, in bulk through ``rentals.services.advance_statuses``."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from car_rental_system.joblock import holds_run_lock
from rentals.services import advance_statuses


class Command(BaseCommand):
    help = (
        "Cancel unpaid bookings whose payment window has closed, move paid rentals by time in bulk "
        "(PENDING → ONGOING, PENDING/ONGOING → OVERDUE) and mark their cars RENTED. Prints the counts. "
        "No refunds are made."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count the moves; write nothing.")
        parser.add_argument("--batch-size", type=int, default=1000, help="Rentals per transaction (default 1000).")

    @holds_run_lock("update_expired_rentals")
    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError(_("--batch-size must be at least 1."))
        counts = advance_statuses(batch_size=options["batch_size"], dry_run=options["dry_run"])
        if options["verbosity"] == 0:
            return
        if options["dry_run"]:
            self.stdout.write(_("DRY RUN: nothing was written; a real run would move:"))
        self.stdout.write(_("Unpaid bookings released: %(count)s") % {"count": counts["lapsed"]})
        self.stdout.write(_("PENDING → ONGOING: %(count)s") % {"count": counts["to_ongoing"]})
        self.stdout.write(_("PENDING/ONGOING → OVERDUE: %(count)s") % {"count": counts["to_overdue"]})
