from django.urls import path

from rentals import views

app_name = "rentals"

urlpatterns = [
    path("new/<int:vehicle_pk>/", views.book, name="new"),
    path("new/<int:vehicle_pk>/quote/", views.quote, name="quote"),
    path("<int:pk>/cancel/", views.cancel, name="cancel"),
]
