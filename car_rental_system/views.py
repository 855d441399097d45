import logging

from django.contrib import admin
from django.db import connection
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_safe

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request):
    """200 when the app and its database answer, 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("health check: database unreachable")
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


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
