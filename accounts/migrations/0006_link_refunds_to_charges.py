"""Tie refunds written before refunds named their charge to the charge they
reversed, where that can be told: the newest PAID charge of the same method
with enough left (charge amount − what refunds of it already took), the rule
``accounts.selectors.charges_left`` uses. A refund that fits no such charge
stays unlinked and keeps being matched by that rule."""


from django.db import migrations


def link_refunds(apps, schema_editor):
    Payment = apps.get_model("accounts", "Payment")
    unlinked = Payment.objects.filter(transaction_type="REFUND", refund_of__isnull=True)
    for rental_id in unlinked.values_list("rental_id", flat=True).distinct().order_by("rental_id"):
        charges = sorted(
            Payment.objects.filter(rental_id=rental_id, transaction_type="CHARGE", status="PAID"),
            key=lambda c: (c.paid_at is not None, c.paid_at, c.pk),
            reverse=True,
        )
        left = {c.pk: c.amount for c in charges}
        refunds = Payment.objects.filter(
            rental_id=rental_id, transaction_type="REFUND", status__in=["REFUNDED", "PENDING", "PROCESSING"]
        ).order_by("created_at", "pk")
        for refund in refunds:
            if refund.refund_of_id in left:
                left[refund.refund_of_id] -= refund.amount
        for refund in refunds:
            if refund.refund_of_id is not None:
                continue
            charge = next(
                (c for c in charges if c.payment_method == refund.payment_method and left[c.pk] >= refund.amount),
                None,
            )
            if charge is None:
                continue
            left[charge.pk] -= refund.amount
            Payment.objects.filter(pk=refund.pk).update(refund_of_id=charge.pk)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_staff_page_indexes")]

    operations = [migrations.RunPython(link_refunds, migrations.RunPython.noop)]
