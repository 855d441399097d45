"""One identity, one account (SPEC §17): ``Customer.id_card_number`` is
unique, enforced by the database; empty numbers (walk-ins without one) stay
allowed many times.

Existing duplicates are not merged or changed here (which of two accounts is
the person's is for staff to decide): the migration refuses, naming the
customers by id (never the numbers themselves), and runs once they are
merged or corrected. Works on SQLite and PostgreSQL (partial unique index).
"""

from django.db import migrations, models
from django.db.models import Count, Min

MESSAGE_SAMPLE = 20


def refuse_duplicates(apps, schema_editor):
    Customer = apps.get_model("customers", "Customer")
    shared = (
        Customer.objects.exclude(id_card_number="")
        .values("id_card_number")
        .annotate(count=Count("pk"), first=Min("pk"))
        .filter(count__gt=1)
        .order_by("first")
    )
    clashes = []
    for row in shared[:MESSAGE_SAMPLE]:
        others = (
            Customer.objects.filter(id_card_number=row["id_card_number"])
            .exclude(pk=row["first"])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        clashes.append(f"#{row['first']} and " + ", ".join(f"#{pk}" for pk in others))
    if clashes:
        raise RuntimeError(
            "These customers share an ID card number (one person, one account): "
            + "; ".join(clashes)
            + ". Merge each group into one account or correct the numbers, then migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_username_unique_ignoring_case"),
    ]

    operations = [
        migrations.RunPython(refuse_duplicates, migrations.RunPython.noop, elidable=False),
        migrations.AddConstraint(
            model_name="customer",
            constraint=models.UniqueConstraint(
                condition=models.Q(("id_card_number", ""), _negated=True),
                fields=("id_card_number",),
                name="customers_customer_id_card_number_uniq",
                violation_error_code="id_card_taken",
                violation_error_message=(
                    "An account with this ID card number already exists: one person holds one account. "
                    "If it is yours, please sign in to it, or contact customer service."
                ),
            ),
        ),
    ]
