"""Error reports to Sentry, when ``SENTRY_DSN`` is set (SPEC §15).

``init_error_reporting()`` runs at the end of the settings module, so the web
processes and the Celery worker and beat all report. Without ``SENTRY_DSN``
it does nothing: the SDK is not even imported.

What is sent: unhandled exceptions of views and jobs and ERROR log records,
tagged with the request id of the request (or of the request that enqueued
the job), the environment (``SENTRY_ENVIRONMENT``) and the release
(``SENTRY_RELEASE``). Performance traces only when
``SENTRY_TRACES_SAMPLE_RATE`` is above 0 (the default is 0).

What is not: the SDK's personal data (user, IP address, cookies) stays off
(``send_default_pii=False``), and ``scrub_event`` runs on every event before it
leaves the process: values under names that speak of secrets, keys, cards,
ID and licence numbers, phones or sessions are replaced, and card numbers,
Chinese ID numbers, mobile numbers and this process's own secrets are cut out
of every other string (messages, local variables, request data, breadcrumbs).
"""

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from car_rental_system.request_context import current_request_id

FILTERED = "[Filtered]"

# Names whose value is never sent, whatever it looks like (substring match,
# case-insensitive; e.g. SECRET_KEY, api_key, idempotency_key, id_card_number,
# driver_license_number, X-Sandbox-Signature, sessionid, csrftoken).
_SENSITIVE_NAME = re.compile(
    r"pass(word|wd)?|secret|key|token|signature|auth|cookie|session|csrf|dsn|card|"
    r"id_?number|id_card|licen[cs]e|phone|mobile|private|credential|cvv|cvc|pan\b|bank|account_no",
    re.IGNORECASE,
)
# Numbers cut out of free text:
_PATTERNS = [
    # payment card numbers: 13 to 19 digits, optionally in groups
    re.compile(r"(?<![\dA-Za-z])\d(?:[ -]?\d){12,18}(?![\dA-Za-z])"),
    # resident ID numbers: 17 digits and a check digit or X
    re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])"),
    # mainland mobile numbers
    re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d{9}(?!\d)"),
]
_secret_values: list[str] = []


def _secrets_of(environ: Mapping[str, str]) -> list[str]:
    """The values of this process's secrets (keys, passwords, tokens, the
    passwords inside service URLs) to cut out wherever they turn up."""
    found = set()
    for name, value in environ.items():
        if not value:
            continue
        upper = name.upper()
        if re.search(r"SECRET|PASSWORD|TOKEN|PRIVATE|_KEY$|^KEY", upper) and len(value) >= 8:
            found.add(value)
        if upper.endswith(("_URL", "_DSN")) and "@" in value:
            try:
                parts = urlsplit(value)
            except ValueError:
                continue
            if parts.password and len(parts.password) >= 4:
                found.add(parts.password)
            if upper.endswith("_DSN") and parts.username:
                found.add(parts.username)
    return sorted(found, key=len, reverse=True)


def _scrub_text(text: str) -> str:
    for secret in _secret_values:
        if secret in text:
            text = text.replace(secret, FILTERED)
    for pattern in _PATTERNS:
        text = pattern.sub(FILTERED, text)
    return text


def _scrub(value, depth: int = 0):
    if depth > 30:
        return value
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, Mapping):
        return {
            key: FILTERED
            if isinstance(key, str) and _SENSITIVE_NAME.search(key) and item not in (None, "")
            else _scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        # [name, value] pairs, as the SDK sends headers and query strings
        if len(value) == 2 and isinstance(value[0], str) and _SENSITIVE_NAME.search(value[0]):
            return [value[0], FILTERED]
        return [_scrub(item, depth + 1) for item in value]
    return value


# Parts of an event made by the SDK itself, not from our data: left as they are
# (module names such as "keyring" or the SDK's own "key" fields must stay readable).
_SDK_PARTS = ("sdk", "modules", "debug_meta")


def scrub_event(event: Any, hint: Any = None) -> Any:
    """``before_send``: tag the request id, then scrub (see the module doc)."""
    request_id = current_request_id()
    if request_id:
        event.setdefault("tags", {})
        if isinstance(event["tags"], dict):
            event["tags"].setdefault("request_id", request_id)
    return {
        key: value
        if key in _SDK_PARTS or key in ("tags", "event_id", "timestamp", "level", "platform")
        else _scrub(value)
        for key, value in event.items()
    }


def init_error_reporting(environ: Mapping[str, str] | None = None) -> bool:
    """Start the Sentry SDK when ``SENTRY_DSN`` is set; return whether it did."""
    environ = os.environ if environ is None else environ
    dsn = environ.get("SENTRY_DSN", "").strip()
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    _secret_values[:] = _secrets_of(environ)
    sentry_sdk.init(
        dsn=dsn,
        environment=environ.get("SENTRY_ENVIRONMENT", "").strip() or "production",
        release=environ.get("SENTRY_RELEASE", "").strip() or None,
        traces_sample_rate=float(environ.get("SENTRY_TRACES_SAMPLE_RATE", "") or 0),
        send_default_pii=False,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        before_send=scrub_event,
        before_send_transaction=scrub_event,
    )
    return True
