"""The counter's "today" board: what each list holds (today in Asia/Shanghai),
the store choice, links to the action pages, permission and query budget."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rentals import selectors
from rentals.models import Rental
from rentals.tests.admin_support import NOW, pay, plain_staff, staff_in_group
from rentals.tests.factories import RentalFactory
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

BOARD = "/admin/rentals/rental/today/"


def booking(store, *, start, days=1, status=Rental.Status.PENDING, return_store=None, **kwargs) -> Rental:
    return RentalFactory(
        vehicle=VehicleFactory(location=store),
        return_location=return_store or store,
        start_time=start,
        end_time=start + timedelta(days=days),
        status=status,
        **kwargs,
    )


@pytest.fixture
def day(frozen, location, other_location):
    """Orders around 2026-03-10 at two stores; the names say where each belongs."""
    a, b = location, other_location
    return {
        "pickup_a": booking(a, start=NOW + timedelta(hours=4)),  # 14:00 today
        "pickup_b": booking(b, start=NOW + timedelta(hours=5)),
        # 00:30 tomorrow in Shanghai is still 2026-03-10 in UTC: not today here.
        "pickup_tomorrow": booking(a, start=NOW + timedelta(hours=14, minutes=30)),
        # Due back at 18:00 today.
        "return_a": booking(
            a, start=NOW - timedelta(days=2) + timedelta(hours=8), days=2, status=Rental.Status.ONGOING
        ),
        # Ends at 08:00 today at store b although picked up at a: returns go by return store.
        "return_b": booking(
            a, start=NOW - timedelta(days=3, hours=2), days=3, status=Rental.Status.ONGOING, return_store=b
        ),
        "return_tomorrow": booking(a, start=NOW - timedelta(days=1), days=2, status=Rental.Status.ONGOING),
        "overdue_a": booking(a, start=NOW - timedelta(days=5), days=3, status=Rental.Status.OVERDUE),
        "refund_b": booking(
            b, start=NOW + timedelta(days=3), status=Rental.Status.CANCELLED, requires_manual_refund=True
        ),
        "completed": booking(a, start=NOW - timedelta(days=9), days=2, status=Rental.Status.COMPLETED),
        "cancelled": booking(a, start=NOW + timedelta(hours=3), status=Rental.Status.CANCELLED),
    }


def ids(rentals) -> list[int]:
    return [rental.pk for rental in rentals]


def test_the_board_lists_todays_work_for_every_store(day):
    board = selectors.counter_board()

    assert board.day.isoformat() == "2026-03-10"
    assert ids(board.pickups) == [day["pickup_a"].pk, day["pickup_b"].pk]
    assert ids(board.returns) == [day["return_b"].pk, day["return_a"].pk]  # by due time: 08:00, 18:00
    assert ids(board.overdue) == [day["overdue_a"].pk]
    assert ids(board.manual_refunds) == [day["refund_b"].pk]


def test_one_store_sees_its_pickups_and_the_cars_coming_back_to_it(day, location, other_location):
    board_a = selectors.counter_board(store=location)
    board_b = selectors.counter_board(store=other_location)

    assert ids(board_a.pickups) == [day["pickup_a"].pk]
    assert ids(board_a.returns) == [day["return_a"].pk]
    assert ids(board_a.overdue) == [day["overdue_a"].pk]
    assert board_a.manual_refunds == []
    assert ids(board_b.pickups) == [day["pickup_b"].pk]
    assert ids(board_b.returns) == [day["return_b"].pk]
    assert board_b.overdue == []
    assert ids(board_b.manual_refunds) == [day["refund_b"].pk]


def test_today_is_the_shanghai_day_late_in_the_evening(time_machine, location):
    # 23:30 in Shanghai is 15:30 UTC: a pick-up at 00:30 next day (Shanghai) is tomorrow's
    late = NOW.replace(hour=23, minute=30)
    time_machine.move_to(late, tick=False)
    tonight = booking(location, start=late + timedelta(minutes=20))
    tomorrow = booking(location, start=late + timedelta(hours=1))

    board = selectors.counter_board()

    assert board.day.isoformat() == "2026-03-10"
    assert ids(board.pickups) == [tonight.pk]
    assert tomorrow.pk not in ids(board.pickups)


@pytest.mark.parametrize("per_list", [1, 6])
def test_the_board_reads_in_four_queries_whatever_the_number_of_rows(
    frozen, location, django_assert_max_num_queries, per_list
):
    for n in range(per_list):
        booking(location, start=NOW + timedelta(hours=1 + n))
        booking(location, start=NOW - timedelta(days=1, hours=n), days=1, status=Rental.Status.ONGOING)
        booking(location, start=NOW - timedelta(days=4, hours=n), days=2, status=Rental.Status.OVERDUE)
        booking(location, start=NOW + timedelta(days=2), status=Rental.Status.CANCELLED, requires_manual_refund=True)

    # one query per list, customer, car and stores joined in
    with django_assert_max_num_queries(4):
        board = selectors.counter_board(store=location)
        for rental in [*board.pickups, *board.returns, *board.overdue, *board.manual_refunds]:
            str(rental.customer), str(rental.vehicle), str(rental.pickup_location), str(rental.return_location)

    assert [len(board.pickups), len(board.returns), len(board.overdue), len(board.manual_refunds)] == [per_list] * 4


# --- the page -------------------------------------------------------------------------


@pytest.fixture
def clerk_client(client, frozen):
    client.force_login(staff_in_group("counter"))
    return client


def row_links(content: str, rental: Rental) -> str:
    start = content.index(f'data-rental="{rental.pk}"')
    return content[start : content.index("</tr>", start)]


def test_each_row_is_one_click_from_its_action_page(clerk_client, day):
    response = clerk_client.get(BOARD, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    content = response.content.decode()
    for key, action in [
        ("pickup_a", "pickup"),
        ("return_a", "return"),
        ("overdue_a", "return"),
        ("refund_b", "refund"),
    ]:
        rental = day[key]
        row = row_links(content, rental)
        assert reverse(f"admin:rentals_rental_{action}", args=[rental.pk]) in row
        assert reverse("admin:rentals_rental_change", args=[rental.pk]) in row
    for key in ("pickup_tomorrow", "return_tomorrow", "completed", "cancelled"):
        assert f'data-rental="{day[key].pk}"' not in content
    assert "Pick-ups today" in content and "Waiting for a manual refund" in content


def test_the_row_shows_what_is_still_owed_before_pick_up(clerk_client, frozen, location):
    rental = booking(location, start=NOW + timedelta(hours=2))
    pay(rental, Decimal("100.00"))
    rental.refresh_from_db()

    content = clerk_client.get(BOARD, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    owed = rental.order_total - Decimal("100.00")
    assert f'data-amount="{owed}"' in row_links(content, rental)


def test_without_the_action_permission_the_row_links_to_the_change_page(client, frozen, day):
    finance = staff_in_group("finance")  # may view rentals, may not hand cars over
    client.force_login(finance)

    content = client.get(BOARD, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    row = row_links(content, day["pickup_a"])
    assert reverse("admin:rentals_rental_pickup", args=[day["pickup_a"].pk]) not in row
    assert "Open order" in row


def test_the_chosen_store_is_remembered_in_the_session(clerk_client, day, location):
    first = clerk_client.get(BOARD, {"store": location.pk}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    again = clerk_client.get(BOARD, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    every = clerk_client.get(BOARD, {"store": ""}, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    for content in (first, again):
        assert f'data-rental="{day["pickup_a"].pk}"' in content
        assert f'data-rental="{day["pickup_b"].pk}"' not in content
        assert f'<option value="{location.pk}" selected>' in content
    assert f'data-rental="{day["pickup_b"].pk}"' in every
    assert clerk_client.session["counter_board_store"] is None


def test_an_unknown_store_is_a_form_error_and_the_board_shows_every_store(clerk_client, day):
    response = clerk_client.get(BOARD, {"store": "999999"}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    content = response.content.decode()
    assert "errornote" in content
    assert f'data-rental="{day["pickup_a"].pk}"' in content and f'data-rental="{day["pickup_b"].pk}"' in content


def test_the_page_reads_the_same_number_of_queries_for_more_rows(clerk_client, location):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert clerk_client.get(BOARD, HTTP_ACCEPT_LANGUAGE="en").status_code == 200
        return len(queries)

    booking(location, start=NOW + timedelta(hours=1))
    clerk_client.get(BOARD)  # the throttled status refresh runs on the first view only
    few = count_queries()
    for n in range(5):
        booking(location, start=NOW + timedelta(hours=2 + n))
        booking(location, start=NOW - timedelta(days=4, hours=n), days=2, status=Rental.Status.OVERDUE)

    assert count_queries() == few


def test_staff_without_view_rental_get_the_admin_403(client, frozen):
    client.force_login(plain_staff())

    response = client.get(BOARD, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 403
    assert "admin/403.html" in [t.name for t in response.templates]


def test_the_board_is_linked_from_the_admin_index_and_the_rental_list(clerk_client):
    index = clerk_client.get("/admin/").content.decode()
    changelist = clerk_client.get("/admin/rentals/rental/").content.decode()

    assert BOARD in index
    assert 'id="counter-board-tool"' in changelist and BOARD in changelist
