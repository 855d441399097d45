# Every booking has its policy version from here on (SPEC §19).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rentals", "0008_cancellation_policy"),
    ]

    operations = [
        migrations.AlterField(
            model_name="rental",
            name="policy",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="rentals",
                to="rentals.cancellationpolicy",
                verbose_name="cancellation policy",
            ),
        ),
    ]
