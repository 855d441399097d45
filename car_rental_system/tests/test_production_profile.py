"""The production profile (SPEC §15): start-up guards, check --deploy,
readiness, request ids in responses and JSON logs, rate-limited sign-in."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "rent.example.com",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    "PAYMENT_SANDBOX_ENABLED": "true",
}


def run_django(code: str, **env) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python process with Django set up under ``env``
    (the settings are read at start-up, so each case needs its own process)."""
    # (without what the test process itself sets, e.g. the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE)
    dropped = ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    script = "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'car_rental_system.settings'); " + code
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def production_env(**extra) -> dict:
    return {
        **PRODUCTION_ENV,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PAYMENT_SANDBOX_SECRET": secrets.token_hex(32),
        **extra,
    }


# --- start-up and check --deploy ------------------------------------------------------


def test_debug_off_with_the_development_secret_key_refuses_to_start():
    result = run_django("django.setup()", DEBUG="false", ALLOWED_HOSTS="rent.example.com")

    assert result.returncode != 0
    assert "DEBUG is off: set SECRET_KEY to a secret of your own" in result.stderr


def test_debug_off_without_allowed_hosts_refuses_to_start():
    result = run_django("django.setup()", DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50))

    assert result.returncode != 0
    assert "DEBUG is off: set ALLOWED_HOSTS" in result.stderr


def test_check_deploy_is_clean_under_the_documented_production_environment():
    result = run_django(
        "from django.core.management import call_command; django.setup(); call_command('check', deploy=True)",
        **production_env(),
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in result.stdout, output
    assert "WARNING" not in output, output


# --- readiness -----------------------------------------------------------------------


@pytest.mark.django_db
def test_readyz_answers_when_the_database_and_the_cache_do(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}


def test_readyz_names_the_database_when_it_is_unreachable():
    code = (
        "django.setup(); from django.test import Client; r = Client().get('/readyz'); "
        "print(r.status_code); print(r.content.decode())"
    )
    result = run_django(code, DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere", LOG_LEVEL="CRITICAL")

    status, body = result.stdout.strip().splitlines()[-2:]
    assert status == "503", result.stderr
    assert json.loads(body) == {
        "status": "unavailable",
        "database": "unreachable",
        "cache": "ok",
        "failed": ["database"],
    }


# --- static files ------------------------------------------------------------------------


def test_static_files_are_served_by_whitenoise_with_hashed_names_under_debug_off(tmp_path):
    code = (
        "from django.core.management import call_command; django.setup(); "
        "call_command('collectstatic', interactive=False, verbosity=0); "
        "from django.test import Client; c = Client(headers={'X-Forwarded-Proto': 'https'}, HTTP_HOST='rent.example.com'); "
        "icon = c.get('/favicon.ico')['Location']; print('icon', icon); "
        "r = c.get(icon); print('status', '|'.join([str(r.status_code), r['Cache-Control'], r['Content-Type'], r['X-Request-ID']])); "
        "from django.templatetags.static import static; css = static('css/app.css'); print('css', css); "
        "g = c.get(css, headers={'Accept-Encoding': 'gzip'}); print('gzip', g.status_code, g.get('Content-Encoding')); "
        "print('plain', c.get('/static/css/app.css').status_code)"
    )
    result = run_django(code, **production_env(STATIC_ROOT=str(tmp_path / "static"), LOG_LEVEL="CRITICAL"))

    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert re.fullmatch(r"/static/favicon\.[0-9a-f]{12}\.svg", lines.get("icon", "")), result.stdout + result.stderr
    status, cache_control, content_type, request_id = lines["status"].split("|")
    assert status == "200"
    assert "immutable" in cache_control and "max-age=315360000" in cache_control
    assert content_type == "image/svg+xml" and len(request_id) == 32
    assert re.fullmatch(r"/static/css/app\.[0-9a-f]{12}\.css", lines["css"])
    assert lines["gzip"] == "200 gzip"
    # the unhashed name is whitenoise's too, but only the hashed one is cached for ever
    assert lines["plain"] == "200"
    assert (tmp_path / "static" / "staticfiles.json").exists()


# --- request ids and JSON logs ----------------------------------------------------------


@pytest.mark.django_db
def test_every_response_carries_a_request_id(client):
    made = client.get("/healthz")
    echoed = client.get("/vehicles/", headers={"X-Request-ID": "edge-7f3a.1"})
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith a newline"})

    assert len(made["X-Request-ID"]) == 32
    assert echoed["X-Request-ID"] == "edge-7f3a.1"
    assert replaced["X-Request-ID"] != "bad id\nwith a newline" and len(replaced["X-Request-ID"]) == 32


def test_a_request_logs_one_json_line_with_its_request_id(tmp_path):
    code = (
        "django.setup(); from django.test import Client; "
        "r = Client().get('/healthz', headers={'X-Request-ID': 'trace-42'}); print(r['X-Request-ID'])"
    )
    result = run_django(code, LOG_FORMAT="json", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")

    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line["logger"] == "car_rental_system.request"]
    assert len(request_lines) == 1, result.stderr
    line = request_lines[0]
    assert line["request_id"] == "trace-42"
    assert (line["level"], line["path"], line["status"], line["method"]) == ("INFO", "/healthz", 200, "GET")
    assert {"time", "message", "user_id", "duration_ms"} <= set(line)


# --- rate limits -----------------------------------------------------------------------


@pytest.mark.django_db
def test_eleven_failed_logins_for_one_username_meet_the_rate_limit_page(client, settings):
    assert settings.LOGIN_RATE_PER_USERNAME == "10/h"
    get_user_model().objects.create_user(username="driver", password="Right-pass-2026")
    url = reverse("accounts:login")

    answers = [
        client.post(url, {"username": "Driver", "password": f"wrong-{n}"}, REMOTE_ADDR=f"10.0.0.{n}").status_code
        for n in range(11)
    ]

    assert answers[:10] == [200] * 10
    assert answers[10] == 429
    page = client.post(url, {"username": "driver", "password": "Right-pass-2026"}, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 429
    assert "Too many attempts" in page.content.decode()
    # another user, from another address, signs in as usual
    get_user_model().objects.create_user(username="other", password="Other-pass-2026")
    other = client.post(url, {"username": "other", "password": "Other-pass-2026"}, REMOTE_ADDR="192.0.2.9")
    assert other.status_code == 302


@pytest.mark.django_db
def test_one_address_trying_many_names_is_limited_too(client, settings):
    settings.LOGIN_RATE_PER_IP = "5/h"
    url = reverse("accounts:login")

    answers = [client.post(url, {"username": f"user{n}", "password": "x"}).status_code for n in range(6)]

    assert answers == [200] * 5 + [429]
    # reading the page is never limited
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_registration_is_rate_limited_per_address(client, settings):
    settings.REGISTER_RATE_PER_IP = "2/h"
    url = reverse("accounts:register")

    answers = [client.post(url, {"username": f"new{n}"}).status_code for n in range(3)]

    assert answers == [200, 200, 429]


@pytest.mark.django_db
def test_payment_callbacks_are_not_rate_limited(client, settings):
    settings.LOGIN_RATE_PER_IP = "1/h"
    answers = {
        client.post("/api/payments/callback/sandbox/", data=b"{}", content_type="application/json").status_code
        for _ in range(5)
    }
    assert answers == {400}
