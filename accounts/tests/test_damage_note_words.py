"""A damage fee reaches the customer with the clerk's note of what was found
(the basis to understand or dispute it): on the order page beside the fee, in
the consumption report and in the return notice."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Notification
from rentals.models import Rental
from rentals.services import process_return
from rentals.tests.admin_support import NOW, ongoing_rental

pytestmark = pytest.mark.django_db

NOTE = "左前门刮伤，需钣金喷漆"


@pytest.fixture
def damaged(frozen, vehicle, customer, staff_user):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(days=3))
    process_return(
        rental=rental,
        returned_at=NOW,
        location=rental.return_location,
        damage_fee=Decimal("800.00"),
        note=NOTE,
        by_user=staff_user,
    )
    rental.refresh_from_db()
    return rental


WORDS = {
    "zh-hans": {
        "page": f"还车检查记录：{NOTE}",
        "notice": f"已收取车损费 ¥800.00：{NOTE}。",
    },
    "en": {
        "page": f"Noted at the return: {NOTE}",
        "notice": f"A damage fee of ¥800.00 was charged: {NOTE}.",
    },
}


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_damage_fee_comes_with_the_clerks_note(client, customer, damaged, language):
    client.force_login(customer.user)

    html = client.get(damaged.get_absolute_url(), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    report = client.get(reverse("accounts:consumption_report"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    notices = client.get(reverse("accounts:notifications"), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    fee_row = html.split('data-fee="damage_fee">')[1].split("</tr>", 1)[1].split("</tr>")[0]
    assert 'id="damage-note"' in fee_row and WORDS[language]["page"] in fee_row
    entry = report.split(f'data-order-id="{damaged.pk}"')[1]
    assert WORDS[language]["page"] in entry.split("damage-note")[1]
    assert WORDS[language]["notice"] in notices


def test_the_notice_keeps_the_fee_and_note_as_what_happened(damaged):
    notice = Notification.objects.get(rental=damaged, notification_type=Notification.Type.RENTAL_RETURNED)
    assert notice.params["damage_fee"] == "800.00" and notice.params["note"] == NOTE
    assert notice.message.endswith(f"已收取车损费 ¥800.00：{NOTE}。")


def test_a_note_without_a_damage_fee_stays_with_staff(client, frozen, vehicle, customer, staff_user):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(days=3))
    process_return(
        rental=rental, returned_at=NOW, location=rental.return_location, note="客户要发票", by_user=staff_user
    )
    assert Rental.objects.get(pk=rental.pk).return_note == "客户要发票"
    client.force_login(customer.user)
    html = client.get(rental.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "客户要发票" not in html
    notice = Notification.objects.get(rental=rental, notification_type=Notification.Type.RENTAL_RETURNED)
    assert notice.params["note"] == "" and "客户要发票" not in notice.message
