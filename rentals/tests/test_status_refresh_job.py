"""With a job broker, the page view that wins the status-refresh window hands
the bulk refresh to a worker instead of running it in the request (SPEC §12)."""

import json
from datetime import timedelta

import pytest
from django.core.cache import cache

from accounts.tests.test_celery_worker import broker  # noqa: F401 - the real Redis broker fixture
from rentals.models import Rental
from rentals.services import STATUS_REFRESH_CACHE_KEY, refresh_statuses_if_due
from rentals.tests.clock import START

pytestmark = pytest.mark.django_db


def _queued_task_names(client) -> list[str]:
    return [json.loads(message)["headers"]["task"] for message in client.lrange("celery", 0, -1)]


def test_a_due_refresh_is_enqueued_not_run_in_the_request(broker, customer, vehicle, time_machine):  # noqa: F811
    from rentals.services import create_rental

    time_machine.move_to(START - timedelta(days=1), tick=False)
    rental = create_rental(
        customer=customer,
        vehicle=vehicle,
        start_time=START,
        end_time=START + timedelta(days=2),
        pickup_location=vehicle.location,
    )
    cache.delete(STATUS_REFRESH_CACHE_KEY)
    time_machine.move_to(START + timedelta(hours=2), tick=False)

    assert refresh_statuses_if_due() is None
    # the request changed nothing itself: the worker will
    rental.refresh_from_db()
    assert rental.status == Rental.Status.PENDING
    assert _queued_task_names(broker) == ["rentals.tasks.update_expired_rentals"]
    # and the window holds: the next view enqueues nothing more
    assert refresh_statuses_if_due() is None
    assert len(_queued_task_names(broker)) == 1


def test_without_a_broker_the_request_refreshes_itself(customer, vehicle, time_machine):
    from rentals.services import create_rental

    time_machine.move_to(START - timedelta(days=1), tick=False)
    create_rental(
        customer=customer,
        vehicle=vehicle,
        start_time=START,
        end_time=START + timedelta(days=2),
        pickup_location=vehicle.location,
    )
    cache.delete(STATUS_REFRESH_CACHE_KEY)
    time_machine.move_to(START + timedelta(hours=2), tick=False)

    assert refresh_statuses_if_due() == {"lapsed": 1, "to_ongoing": 0, "to_overdue": 0}
