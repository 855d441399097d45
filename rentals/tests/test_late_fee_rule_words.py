"""The late-fee rule is told before booking (SPEC §4): the grace hour and the
rate, with the car's fee of a started late day, on the booking page beside the
one-way fee the quote shows, and on the car's page. The words follow the
settings and are the rule the return applies."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from rentals import pricing
from rentals.tests.admin_support import NOW

pytestmark = pytest.mark.django_db

WORDS = {
    "zh-hans": "超时还车：约定还车时间后 1 小时内免费；超过后按日租金的 1.5 倍（¥450.00）计费，每开始一天计一天，宽限时间一并计入。",
    "en": "Late return: free within 1 hour after the return time; after that, 1.5 × the daily rate (¥450.00) for "
    "every started day, the grace included.",
}


def rule_on(html: str) -> str:
    return html.split('id="late-fee-rule">')[1].split("<")[0]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_booking_and_car_pages_state_the_late_fee_rule(client, customer, vehicle, language):
    client.force_login(customer.user)

    book = client.get(reverse("rentals:new", args=[vehicle.pk]), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    car = client.get(reverse("vehicles:detail", args=[vehicle.pk]), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert rule_on(book) == WORDS[language]
    assert rule_on(car) == WORDS[language]
    # beside the quote's one-way fee, in the price card
    card = book.split('id="price-breakdown"')[1]
    assert card.index('data-quote="cross_location_fee"') < card.index('id="late-fee-rule"')


def test_the_words_follow_the_settings(client, customer, vehicle, settings):
    settings.OVERDUE_GRACE = timedelta(minutes=30)
    settings.OVERDUE_RATE = Decimal("2")
    client.force_login(customer.user)

    html = client.get(reverse("rentals:new", args=[vehicle.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert rule_on(html) == (
        "超时还车：约定还车时间后 30 分钟内免费；超过后按日租金的 2 倍（¥600.00）计费，每开始一天计一天，宽限时间一并计入。"
    )


def test_the_fee_of_a_day_stated_is_what_the_return_charges(vehicle):
    rule = pricing.late_fee_rule(vehicle.daily_rate)
    end = NOW
    grace = timedelta(minutes=rule.grace_minutes)
    assert pricing.overdue_fee_for(end, end + grace, vehicle.daily_rate) == Decimal("0.00")
    assert pricing.overdue_fee_for(end, end + grace + timedelta(minutes=1), vehicle.daily_rate) == rule.per_day
    assert pricing.overdue_fee_for(end, end + timedelta(days=1, minutes=1), vehicle.daily_rate) == 2 * rule.per_day
