"""Reviews on the car pages: the average rating with its count on the list and
the car's page, and the car's latest five reviews with masked names."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from accounts.tests.factories import ReviewFactory
from customers.tests.factories import CustomerFactory
from rentals.models import Rental
from rentals.tests.factories import RentalFactory
from vehicles import selectors
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 5, 1, 12, 0, tzinfo=SHANGHAI)


def review(vehicle, *, rating, name="张三", comment="", days_ago=0):
    rental = RentalFactory(vehicle=vehicle, customer=CustomerFactory(name=name), status=Rental.Status.COMPLETED)
    return ReviewFactory(rental=rental, rating=rating, comment=comment, created_at=DAY - timedelta(days=days_ago))


@pytest.mark.parametrize(
    ("name", "masked"), [("张三", "张*"), ("王", "王*"), ("欧阳娜娜", "欧**"), ("  李四 ", "李*"), ("", "*")]
)
def test_reviewer_names_are_masked(name, masked):
    assert selectors.mask_name(name) == masked


def test_car_page_shows_average_count_and_the_latest_five_reviews(client, vehicle):
    # given: six reviews, 2..5 stars, the oldest one first
    for days_ago, (rating, name, comment) in enumerate(
        [
            (4, "赵六", "Newest"),
            (5, "张三", "车很干净"),
            (3, "李四", ""),
            (4, "王五", "OK"),
            (5, "钱七", "Fine"),
            (2, "孙八", "Oldest"),
        ]
    ):
        review(vehicle, rating=rating, name=name, comment=comment, days_ago=days_ago)
    review(VehicleFactory(location=vehicle.location), rating=1)  # another car's review
    # when
    response = client.get(reverse("vehicles:detail", args=[vehicle.pk]), HTTP_ACCEPT_LANGUAGE="en")
    # then: (4+5+3+4+5+2)/6 = 3.83…
    body = response.content.decode()
    assert '<span class="fs-5 fw-semibold" data-rating-average>3.8</span>' in body
    assert "6 reviews" in body
    reviews = response.context["reviews"]
    assert [(r.rating, r.reviewer, r.comment) for r in reviews] == [
        (4, "赵*", "Newest"),
        (5, "张*", "车很干净"),
        (3, "李*", ""),
        (4, "王*", "OK"),
        (5, "钱*", "Fine"),
    ]
    assert "Oldest" not in body and "孙八" not in body and "张三" not in body
    assert "★★★★☆" in body and "4 stars out of 5" in body
    assert DAY.strftime("%Y-%m-%d") in body


def test_car_page_without_reviews_says_so(client, vehicle):
    response = client.get(reverse("vehicles:detail", args=[vehicle.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert 'id="no-reviews"' in response.content.decode() and response.context["reviews"] == []


def test_car_list_shows_each_cars_rating(client, vehicle):
    review(vehicle, rating=5)
    review(vehicle, rating=4)
    unrated = VehicleFactory(location=vehicle.location)
    response = client.get(reverse("vehicles:list"), HTTP_ACCEPT_LANGUAGE="en")
    cars = {car.pk: car for car in response.context["vehicles"]}
    assert (cars[vehicle.pk].rating_avg, cars[vehicle.pk].rating_count) == (4.5, 2)
    assert (cars[unrated.pk].rating_avg, cars[unrated.pk].rating_count) == (None, 0)
    body = response.content.decode()
    assert '<span class="fw-semibold" data-rating-average>4.5</span>' in body and "(2 reviews)" in body
    assert "No reviews yet" in body


def test_ratings_do_not_multiply_cars_or_break_filters(client, vehicle, booking_times):
    for rating in (5, 3, 4):
        review(vehicle, rating=rating)
    start, end = booking_times
    RentalFactory(vehicle=vehicle, start_time=start, end_time=end)  # busy in the period
    listing = client.get(reverse("vehicles:list"))
    assert [car.pk for car in listing.context["vehicles"]] == [vehicle.pk]
    assert listing.context["page"].paginator.count == 1
    busy = client.get(
        reverse("vehicles:list"),
        {
            "start_time": start.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M"),
            "end_time": end.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert list(busy.context["vehicles"]) == []


def test_list_ratings_cost_no_extra_query(client, location, django_assert_max_num_queries):
    for index in range(15):
        car = VehicleFactory(location=location)
        for rating in (index % 5 + 1, 5):
            review(car, rating=rating)
    # cities, count, one page of cars joined to their store with ratings annotated
    with django_assert_max_num_queries(3):
        response = client.get(reverse("vehicles:list"))
    assert len(response.context["vehicles"]) == 12
    assert all(car.rating_count == 2 for car in response.context["vehicles"])


def test_car_page_query_budget(client, vehicle, django_assert_max_num_queries):
    for days_ago in range(8):
        review(vehicle, rating=4, days_ago=days_ago)
    # the car with its store and rating; its latest five reviews with names
    with django_assert_max_num_queries(2):
        response = client.get(reverse("vehicles:detail", args=[vehicle.pk]))
    assert len(response.context["reviews"]) == 5
