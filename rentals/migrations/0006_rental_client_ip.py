# The address a customer booked from, for the cap on unpaid bookings per client IP (SPEC §17).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rentals", "0005_rental_amount_refund_in_flight"),
    ]

    operations = [
        migrations.AddField(
            model_name="rental",
            name="client_ip",
            field=models.GenericIPAddressField(blank=True, editable=False, null=True, verbose_name="client IP"),
        ),
        migrations.AddIndex(
            model_name="rental",
            index=models.Index(
                condition=models.Q(("status", "PENDING")),
                fields=["client_ip", "created_at"],
                name="rental_pending_client_ip",
            ),
        ),
    ]
