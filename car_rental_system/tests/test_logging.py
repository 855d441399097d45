"""The console log as ``make run`` prints it: a refused request is one line."""

import io
import logging

import pytest

from rentals.tests.admin_support import staff_in_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def console():
    """What the settings' console handler writes, captured."""
    handler = next(h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_a_403_logs_one_line_without_a_traceback(client, console):
    client.force_login(staff_in_group("counter"))

    response = client.get("/admin/accounts/payment/dashboard/")

    assert response.status_code == 403
    # the refusal itself, once, plus the access line every request writes
    request_id = response["X-Request-ID"]
    lines = console.getvalue().splitlines()
    refusals = [line for line in lines if "Forbidden (Permission denied): /admin/accounts/payment/dashboard/" in line]
    assert len(refusals) == 1
    assert "WARNING django.request" in refusals[0] and request_id in refusals[0]
    assert lines == [refusals[0], lines[-1]]
    assert "INFO car_rental_system.request" in lines[-1] and "GET /admin/accounts/payment/dashboard/ 403" in lines[-1]
    assert "Traceback" not in console.getvalue()
    # and only once: Django's own console handler (DEBUG) would print it again
    assert logging.getLogger("django").handlers == []


def test_a_server_error_still_logs_once_with_its_traceback(console):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("django.request").exception("Internal Server Error: %s", "/x", extra={"status_code": 500})

    assert console.getvalue().count("Internal Server Error: /x") == 1
    assert console.getvalue().count("Traceback") == 1
