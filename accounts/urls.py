from django.urls import path

from accounts import extension_views, invoice_views, payment_views, views

app_name = "accounts"

urlpatterns = [
    path("register/", views.register, name="register"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("orders/", views.order_list, name="orders"),
    path("orders/<int:pk>/", views.order_detail, name="order_detail"),
    path("orders/<int:pk>/receipt.pdf", views.order_receipt, name="receipt"),
    path("orders/<int:pk>/pay/", payment_views.pay, name="pay"),
    path("orders/<int:pk>/extend/", extension_views.extend, name="extend"),
    path("orders/<int:pk>/review/", views.review, name="review"),
    path("orders/<int:pk>/invoice/", invoice_views.invoice_request, name="invoice_request"),
    path("consumption-report/", views.consumption_report, name="consumption_report"),
    path("consumption-report/csv/", views.consumption_report_csv, name="consumption_report_csv"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification_read"),
    path("notifications/read-all/", views.notifications_read_all, name="notifications_read_all"),
]
