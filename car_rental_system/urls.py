from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from car_rental_system import views

admin.site.site_header = _("Car rental administration")
admin.site.site_title = _("Car rental administration")
admin.site.index_title = _("Store desk and finance")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("accounts.urls")),
    path("rentals/", include("rentals.urls")),
    path("", include("accounts.payment_urls")),
    path("", include("vehicles.urls")),
]

handler403 = "car_rental_system.views.permission_denied"
handler404 = "car_rental_system.views.page_not_found"
handler500 = "car_rental_system.views.server_error"
