from django.contrib import admin
from django.urls import include, path

from car_rental_system import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("accounts.urls")),
    path("rentals/", include("rentals.urls")),
    path("", include("accounts.payment_urls")),
    path("", include("vehicles.urls")),
]

handler403 = "car_rental_system.views.permission_denied"
handler404 = "car_rental_system.views.page_not_found"
handler500 = "car_rental_system.views.server_error"
