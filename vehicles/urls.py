from django.urls import path

from vehicles import views

app_name = "vehicles"

urlpatterns = [
    path("", views.vehicle_list, name="home"),
    path("vehicles/", views.vehicle_list, name="list"),
    path("vehicles/<int:pk>/", views.vehicle_detail, name="detail"),
    path("stores/", views.store_list, name="stores"),
    path("stores/<int:pk>/", views.store_detail, name="store"),
]
