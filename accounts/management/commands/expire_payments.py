"""``python manage.py expire_payments``: PENDING charges past ``expires_at`` → EXPIRED,
each once its provider has closed it (SPEC §17).

Safe for cron: each charge is expired in its own short transaction and
re-checked under its lock, so overlapping runs or a callback arriving at the
same moment can't expire a charge twice or expire a paid one. A second run
finds nothing to do.
"""

from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts.models import Payment
from accounts.services import expire_stale_payments
from car_rental_system.joblock import holds_run_lock


class Command(BaseCommand):
    help = "Close PENDING customer charges whose payment window has passed at their provider, then mark them EXPIRED."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List what would expire; change nothing.")

    @holds_run_lock("expire_payments")
    def handle(self, *args, dry_run=False, verbosity=1, **options):
        if dry_run:
            due = list(
                Payment.objects.filter(
                    transaction_type=Payment.TransactionType.CHARGE,
                    status=Payment.Status.PENDING,
                    closing_as="",
                    expires_at__lte=timezone.now(),
                ).values_list("transaction_id", flat=True)
            )
            if verbosity:
                self.stdout.write(f"Dry run: {len(due)} charge(s) would expire.")
                for tx in due:
                    self.stdout.write(f"  {tx}")
            return
        expired = expire_stale_payments()
        if verbosity:
            if expired:
                self.stdout.write(self.style.SUCCESS(f"Expired {len(expired)} charge(s)."))
                if verbosity > 1 or len(expired) <= 50:
                    for tx in expired:
                        self.stdout.write(f"  {tx}")
            else:
                self.stdout.write("No charges to expire.")
