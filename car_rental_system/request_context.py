"""The request id and the signed-in user of the request being served, for logs.

``RequestIdMiddleware`` takes the id from an incoming ``X-Request-ID`` header
(when it looks like one) or makes a new one, returns it in the response's
``X-Request-ID``, and logs one line per request (path, status, duration).
``RequestContextFilter`` puts the id and the user id on every log record
written while the request is served, so a JSON log line carries them.
"""

import logging
import re
import time
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
# What an id from a proxy or a client may look like; anything else is replaced.
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
request_var: ContextVar[object | None] = ContextVar("request", default=None)

logger = logging.getLogger("car_rental_system.request")


def current_request_id() -> str:
    return request_id_var.get()


def incoming_request_id(value: str | None) -> str:
    """The caller's id when it is a plain token, else a new one."""
    if value and _VALID_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = incoming_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        id_token = request_id_var.set(request_id)
        request_token = request_var.set(request)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return response
        finally:
            request_id_var.reset(id_token)
            request_var.reset(request_token)


def _user_id(request) -> int | None:
    # The user the auth middleware already loaded (never a query from a log call).
    user = getattr(request, "_cached_user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return user.pk
    return None


class RequestContextFilter(logging.Filter):
    """Add ``request_id`` and ``user_id`` to every record (empty outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        if getattr(record, "user_id", None) is None:
            request = request_var.get()
            record.user_id = _user_id(request) if request is not None else None
        return True
