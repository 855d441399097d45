from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.translation import gettext_lazy as _

from car_rental_system import views
from car_rental_system.rate_limits import rate_limited_by_ip_and_username

admin.site.site_header = _("Car rental administration")
admin.site.site_title = _("Car rental administration")
admin.site.index_title = _("Store desk and finance")

urlpatterns = [
    # The admin's sign-in, limited like the site's and sharing its counters
    # (SPEC §17); listed before the admin's own URLs, so it answers
    # /admin/login/ and ``admin:login`` still points here.
    path("admin/login/", rate_limited_by_ip_and_username("login")(admin.site.login)),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("favicon.ico", views.favicon, name="favicon"),
    re_path(r"^media/(?P<path>.+)$", views.media, name="media"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("accounts.urls")),
    path("rentals/", include("rentals.urls")),
    path("", include("accounts.payment_urls")),
    path("", include("vehicles.urls")),
]

handler403 = "car_rental_system.views.permission_denied"
handler404 = "car_rental_system.views.page_not_found"
handler500 = "car_rental_system.views.server_error"
