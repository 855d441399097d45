import logging
import uuid

from django.conf import settings
from django.contrib import admin
from django.core.cache import cache
from django.db import connection
from django.http import Http404, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_safe
from django.views.static import serve

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request):
    """200 when the process lives and its database answers, 503 otherwise
    (``/readyz`` also checks the cache and the broker)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("health check: database unreachable")
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@never_cache
@require_GET
def readyz(request):
    """200 when the database, the cache and (where one is configured) the job
    broker answer; 503 naming the ones that did not."""
    checks = {"database": _database_answers, "cache": _cache_answers}
    if getattr(settings, "CELERY_BROKER_URL", ""):
        checks["broker"] = _broker_answers
    results = {}
    for name, check in checks.items():
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            logger.warning("readiness check: %s unreachable (%s)", name, exc.__class__.__name__)
            results[name] = "unreachable"
        else:
            results[name] = "ok"
    failed = sorted(name for name, result in results.items() if result != "ok")
    body = {"status": "ok" if not failed else "unavailable", **results}
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=503 if failed else 200)


def _database_answers() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache_answers() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", 10)
    if cache.get(key) != "1":
        raise RuntimeError("the cache did not keep a value")
    cache.delete(key)


def _broker_answers() -> None:
    from kombu import Connection

    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=1)


def rate_limited(request, exception=None):
    """Too many attempts (login, registration): a readable page, status 429."""
    return render(request, "errors/429.html", status=429)


@require_safe
def favicon(request):
    """Browsers ask for /favicon.ico on every page (the admin's too): send them to the SVG icon."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))


def permission_denied(request, exception=None):
    """403 in the look of the site the page belongs to: the admin's own for
    /admin/ pages (staff keep their admin menu), the customer site's elsewhere."""
    if request.path.startswith(reverse("admin:index")):
        context = {**admin.site.each_context(request), "title": _("Access denied")}
        return render(request, "admin/403.html", context, status=403)
    return render(request, "errors/403.html", status=403)


def page_not_found(request, exception=None):
    return render(request, "errors/404.html", status=404)


def server_error(request):
    return render(request, "errors/500.html", status=500)


@require_safe
def media(request, path: str):
    """Uploaded files from MEDIA_ROOT, when this process is to serve them
    (``SERVE_MEDIA``: on with DEBUG and under ``make serve``); in production
    the proxy serves MEDIA_ROOT and this answers 404."""
    if not settings.SERVE_MEDIA:
        raise Http404
    return serve(request, path, document_root=str(settings.MEDIA_ROOT))
