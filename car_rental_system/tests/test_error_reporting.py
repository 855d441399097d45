"""Error reports (SPEC §15): with SENTRY_DSN set, an exception in a view
reaches the Sentry ingest endpoint as an envelope tagged with the request id
and without personal data; without SENTRY_DSN nothing is started."""

import gzip
import json
import secrets
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from car_rental_system import error_reporting
from car_rental_system.error_reporting import FILTERED, scrub_event
from car_rental_system.request_context import request_id_var
from car_rental_system.tests.test_production_profile import run_django

ID_NUMBER = "110101199003071234"
PHONE = "13800138000"
CARD = "4111111111111111"


class FakeSentry:
    """A real HTTP server on 127.0.0.1 that accepts what the SDK posts to a
    Sentry ingest endpoint and keeps it."""

    def __init__(self):
        self.posts = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding == "br":  # the SDK's choice when brotli is installed
                    import brotli

                    body = brotli.decompress(body)
                received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            # shutdown() waits for the loop's next poll: 0.5 s by default, per test
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.01},
            daemon=True,
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def envelope_items(body: bytes) -> list[tuple[dict, bytes]]:
    """The (item header, payload) pairs of a Sentry envelope."""
    _, _, rest = body.partition(b"\n")
    items = []
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        header = json.loads(header_line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] :]
            rest = rest[1:] if rest.startswith(b"\n") else rest
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header, payload))
    return items


VIEW_THAT_FAILS = f"""
import sys, types
django.setup()
import sentry_sdk
from django.conf import settings
from django.test import Client, override_settings
from django.urls import include, path

def failing_view(request):
    id_card_number = "{ID_NUMBER}"
    note = "customer {PHONE}, card 4111 1111 1111 1111, id {ID_NUMBER}"
    signing_key = settings.PAYMENT_SANDBOX_SECRET
    raise RuntimeError("charge refused for card {CARD} of {PHONE}")

urls = types.ModuleType("failing_urls")
urls.urlpatterns = [path("fails", failing_view), path("", include("car_rental_system.urls"))]
sys.modules["failing_urls"] = urls
# served by the WSGI handler, as gunicorn serves it, on a real socket
import http.client, threading
from wsgiref.simple_server import WSGIRequestHandler, make_server
from django.core.wsgi import get_wsgi_application

class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass

with override_settings(ROOT_URLCONF="failing_urls"):
    server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=QuietHandler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
    conn.request("GET", "/fails?phone={PHONE}&page=2", headers={{
        "X-Request-ID": "trace-sentry-7", "Cookie": "sessionid=s3ss10n-value-77",
        "Authorization": "Bearer tok-very-secret-42", "X-Sandbox-Signature": "t=1,v1=sig-value-5",
    }})
    response = conn.getresponse()
    response.read()
print("status", response.status, response.getheader("X-Request-ID"))
print("integrations", sorted(sentry_sdk.get_client().integrations))
sentry_sdk.flush(timeout=10)
"""


def test_a_view_exception_reaches_sentry_with_the_request_id_and_no_personal_data(tmp_path):
    sandbox_secret = secrets.token_hex(32)
    with FakeSentry() as sentry:
        result = run_django(
            VIEW_THAT_FAILS,
            SENTRY_DSN=f"http://publickey123@127.0.0.1:{sentry.port}/42",
            SENTRY_ENVIRONMENT="staging",
            SENTRY_RELEASE="car-rental@2026.11.29",
            PAYMENT_SANDBOX_SECRET=sandbox_secret,
            DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
            LOG_LEVEL="CRITICAL",
        )
        assert "status 500 trace-sentry-7" in result.stdout, result.stdout + result.stderr
        posts = list(sentry.posts)

    assert "'celery'" in result.stdout and "'django'" in result.stdout
    envelopes = [post for post in posts if post["path"] == "/api/42/envelope/"]
    assert envelopes, [post["path"] for post in posts]
    assert "sentry_key=publickey123" in envelopes[0]["headers"]["X-Sentry-Auth"]
    events = [
        json.loads(payload)
        for post in envelopes
        for header, payload in envelope_items(post["body"])
        if header.get("type") == "event"
    ]
    assert len(events) == 1
    event = events[0]
    assert event["tags"]["request_id"] == "trace-sentry-7"
    assert event["environment"] == "staging"
    assert event["release"] == "car-rental@2026.11.29"
    exception = event["exception"]["values"][-1]
    assert exception["type"] == "RuntimeError"
    assert exception["value"] == f"charge refused for card {FILTERED} of {FILTERED}"
    frame = exception["stacktrace"]["frames"][-1]
    assert frame["function"] == "failing_view"
    assert frame["vars"]["id_card_number"] == FILTERED and frame["vars"]["signing_key"] == FILTERED
    request = event["request"]
    assert request["url"].startswith("http://127.0.0.1:") and request["url"].endswith("/fails")
    assert request["query_string"] == f"phone={FILTERED}&page=2"
    assert "cookies" not in request
    for header in ("Cookie", "Authorization", "X-Sandbox-Signature"):
        assert request["headers"][header] == FILTERED
    assert request["headers"]["X-Request-Id"] == "trace-sentry-7"
    assert "ip_address" not in event.get("user", {})
    # nothing personal or secret anywhere in what was sent
    sent = b"".join(post["body"] for post in posts).decode()
    for leaked in (
        ID_NUMBER,
        PHONE,
        CARD,
        "4111 1111 1111 1111",
        sandbox_secret,
        "s3ss10n-value-77",
        "tok-very-secret-42",
        "sig-value-5",
    ):
        assert leaked not in sent, leaked


def test_without_a_dsn_nothing_is_started():
    result = run_django(
        "import sys; django.setup(); from django.conf import settings; "
        "print(settings.ERROR_REPORTING, 'sentry_sdk' in sys.modules)",
        SENTRY_DSN="",
        LOG_LEVEL="CRITICAL",
    )

    assert result.stdout.strip().splitlines()[-1] == "False False", result.stderr


# --- the scrubber on its own -------------------------------------------------------


def test_scrub_event_filters_sensitive_names_and_numbers_and_tags_the_request(monkeypatch):
    monkeypatch.setattr(error_reporting, "_secret_values", ["sk-live-0123456789abcdef"])
    token = request_id_var.set("req-scrub-1")
    try:
        event = scrub_event(
            {
                "message": f"customer {PHONE} paid with {CARD}; key sk-live-0123456789abcdef",
                "extra": {
                    "driver_license_number": "D1234567",
                    "phone": "021-5555",
                    "order": 1042,
                    "amount": "2600.00",
                    "note": f"ID {ID_NUMBER[:-1]}X booked",
                },
                "request": {
                    "headers": [["X-Sandbox-Signature", "t=1,v1=abc"], ["Accept", "text/html"]],
                    "query_string": "page=2",
                },
                "breadcrumbs": {"values": [{"message": f"SELECT ... WHERE phone = '{PHONE}'"}]},
                "modules": {"keyring": "25.0"},
            }
        )
    finally:
        request_id_var.reset(token)

    assert event["tags"] == {"request_id": "req-scrub-1"}
    assert event["message"] == f"customer {FILTERED} paid with {FILTERED}; key {FILTERED}"
    assert event["extra"] == {
        "driver_license_number": FILTERED,
        "phone": FILTERED,
        "order": 1042,
        "amount": "2600.00",
        "note": f"ID {FILTERED} booked",
    }
    assert event["request"]["headers"] == [["X-Sandbox-Signature", FILTERED], ["Accept", "text/html"]]
    assert event["request"]["query_string"] == "page=2"
    assert event["breadcrumbs"]["values"][0]["message"] == f"SELECT ... WHERE phone = '{FILTERED}'"
    assert event["modules"] == {"keyring": "25.0"}


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({"SECRET_KEY": "x" * 50, "LOG_LEVEL": "INFO"}, ["x" * 50]),
        ({"DATABASE_URL": "postgres://app:pg-pass-9@db/rent"}, ["pg-pass-9"]),
        ({"REDIS_URL": "redis://127.0.0.1:6379/0"}, []),
    ],
)
def test_the_process_secrets_to_cut_out(environ, expected):
    assert error_reporting._secrets_of(environ) == expected
