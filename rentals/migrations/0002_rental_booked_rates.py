"""Rentals keep the daily rate and member discount rate they were booked at.

Existing rows are filled from their car's daily rate and their customer's
member level (``settings.MEMBER_DISCOUNTS``), the best record there is of what
they were priced at.
"""

from decimal import Decimal

from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill_booked_rates(apps, schema_editor):
    Rental = apps.get_model("rentals", "Rental")
    Vehicle = apps.get_model("vehicles", "Vehicle")
    Rental.objects.update(
        daily_rate=Subquery(Vehicle.objects.filter(pk=OuterRef("vehicle_id")).values("daily_rate")[:1])
    )
    for level, rate in settings.MEMBER_DISCOUNTS.items():
        Rental.objects.filter(customer__member_level=level).update(discount_rate=Decimal(str(rate)))


class Migration(migrations.Migration):

    dependencies = [
        ("rentals", "0001_initial"),
        ("vehicles", "0001_initial"),
        ("customers", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="rental",
            name="daily_rate",
            field=models.DecimalField(
                decimal_places=2, default=Decimal("0.00"), max_digits=12, verbose_name="daily rate"
            ),
        ),
        migrations.AddField(
            model_name="rental",
            name="discount_rate",
            field=models.DecimalField(
                decimal_places=4, default=Decimal("0"), max_digits=5, verbose_name="member discount rate"
            ),
        ),
        migrations.RunPython(fill_booked_rates, migrations.RunPython.noop),
    ]
