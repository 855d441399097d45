from django.urls import path

from accounts import payment_views

app_name = "payments"

urlpatterns = [
    path("payments/sandbox/<str:transaction_id>/", payment_views.sandbox_checkout, name="sandbox_checkout"),
    path("payments/<str:transaction_id>/return/", payment_views.payment_return, name="return"),
    path("payments/<str:transaction_id>/wechat/", payment_views.wechat_qr, name="wechat_qr"),
    path("payments/<str:transaction_id>/status/", payment_views.charge_status, name="status"),
    path("api/payments/callback/<str:provider>/", payment_views.callback, name="callback"),
]
