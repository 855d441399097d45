"""Staff groups: "counter" runs the store desk, "finance" reads the money.

Permissions are created here first (Django normally creates them only after
all migrations), so the groups are complete on a fresh database.
"""

from django.db import migrations

GROUPS = {
    "counter": [
        "vehicles.view_location",
        "vehicles.view_vehicle",
        "vehicles.change_vehicle",
        "customers.add_customer",
        "customers.change_customer",
        "customers.view_customer",
        "rentals.view_rental",
        "rentals.pickup_rental",
        "rentals.process_return",
        "rentals.cancel_rental",
        "rentals.view_rentalevent",
        "accounts.view_payment",
        "accounts.view_paymentevent",
        "accounts.record_counter_payment",
        "accounts.record_manual_refund",
    ],
    "finance": [
        "vehicles.view_location",
        "vehicles.view_vehicle",
        "customers.view_customer",
        "rentals.view_rental",
        "rentals.view_rentalevent",
        "accounts.view_payment",
        "accounts.view_paymentevent",
        "accounts.view_callbackreceipt",
        "accounts.record_manual_refund",
        "accounts.view_finance_dashboard",
        "accounts.export_payments",
    ],
}


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = []
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            perms.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.add(*perms)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("rentals", "0001_initial"),
        ("customers", "0001_initial"),
        ("vehicles", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
