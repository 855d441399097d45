# The rental policy of SPEC §19: version 1 with the defaults, and every
# existing booking pointed at it (the column is made required in 0009, in a
# transaction of its own: PostgreSQL won't alter a table with pending updates).

from datetime import UTC, datetime

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

FIRST_EFFECTIVE_FROM = datetime(2000, 1, 1, tzinfo=UTC)


def create_version_1(apps, schema_editor):
    Policy = apps.get_model("rentals", "CancellationPolicy")
    Rental = apps.get_model("rentals", "Rental")
    policy, _ = Policy.objects.get_or_create(version=1, defaults={"effective_from": FIRST_EFFECTIVE_FROM})
    Rental.objects.filter(policy__isnull=True).update(policy=policy)


class Migration(migrations.Migration):
    dependencies = [
        ("rentals", "0007_car_checks_at_handover_and_return"),
    ]

    operations = [
        migrations.CreateModel(
            name="CancellationPolicy",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("version", models.PositiveIntegerField(unique=True, verbose_name="version")),
                (
                    "effective_from",
                    models.DateTimeField(default=django.utils.timezone.now, verbose_name="in force from"),
                ),
                (
                    "free_until_hours",
                    models.PositiveIntegerField(
                        default=24,
                        validators=[django.core.validators.MaxValueValidator(8760)],
                        verbose_name="free cancellation until (hours before pick-up)",
                    ),
                ),
                (
                    "late_cancel_fee_days",
                    models.PositiveSmallIntegerField(
                        default=1,
                        validators=[django.core.validators.MaxValueValidator(90)],
                        verbose_name="late cancellation fee (days of rent)",
                    ),
                ),
                (
                    "no_show_fee_days",
                    models.PositiveSmallIntegerField(
                        default=1,
                        validators=[django.core.validators.MaxValueValidator(90)],
                        verbose_name="no-show fee (days of rent)",
                    ),
                ),
                (
                    "early_return_fee_percent",
                    models.PositiveSmallIntegerField(
                        default=20,
                        validators=[django.core.validators.MaxValueValidator(100)],
                        verbose_name="early return fee (percent of the unused days' rent)",
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="created at")),
            ],
            options={
                "verbose_name": "cancellation policy",
                "verbose_name_plural": "cancellation policies",
                "ordering": ["-version"],
            },
        ),
        migrations.AddField(
            model_name="rental",
            name="policy",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="rentals",
                to="rentals.cancellationpolicy",
                verbose_name="cancellation policy",
            ),
        ),
        migrations.RunPython(create_version_1, migrations.RunPython.noop),
    ]
