"""Usernames are unique ignoring case, enforced by the database (SPEC §16 Identity).

A unique index on LOWER(username) of the auth user table. The user model
belongs to ``django.contrib.auth``, so the index is added here with the schema
editor rather than as a model constraint; the reverse migration drops it.
Works on SQLite and PostgreSQL (both index expressions).
"""

from django.db import migrations
from django.db.models import Count, UniqueConstraint
from django.db.models.functions import Lower

CONSTRAINT_NAME = "customers_auth_user_username_ci_uniq"


def username_ci_constraint() -> UniqueConstraint:
    return UniqueConstraint(Lower("username"), name=CONSTRAINT_NAME)


def add_index(apps, schema_editor):
    User = apps.get_model("auth", "User")
    clashes = (
        User.objects.annotate(name=Lower("username"))
        .values("name")
        .annotate(count=Count("pk"))
        .filter(count__gt=1)
        .values_list("name", flat=True)
    )
    clashes = list(clashes[:20])
    if clashes:
        # Say which names to merge or rename instead of a bare IntegrityError.
        raise RuntimeError(
            "These usernames exist in more than one letter case; rename all but one of each "
            "before migrating: " + ", ".join(clashes)
        )
    schema_editor.add_constraint(User, username_ci_constraint())


def drop_index(apps, schema_editor):
    schema_editor.remove_constraint(apps.get_model("auth", "User"), username_ci_constraint())


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("customers", "0001_initial"),
    ]

    operations = [migrations.RunPython(add_index, drop_index, elidable=False)]
