"""Minimal Django equivalents of the customer pages: the yardstick of
``bench/page_cpu.py`` and of the query budgets (accounts/tests/test_query_budgets.py).

Each view does what a plain Django page showing the same content needs, and
nothing more: the signed-in user (``login_required``, the same session and
authentication backend), the order scoped to that user with its car and
stores in one query, its payments in another, and a template without
translations, URL reversing or template tags beyond ``{% csrf_token %}``.
The templates are compiled once by an engine configured like the project's
(the cached loader, the same context processors), and each can be padded with
a constant comment to the byte size of the project page it stands for
(``pad``), so both send the same number of bytes.

The URLconf ``bench.minimal_pages`` is the project's plus these pages under
``/minimal/``; the benchmark and the tests serve both through it, with the
project's settings and middleware.
"""

from decimal import Decimal

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.backends.django import DjangoTemplates
from django.urls import path, reverse

from accounts.models import Payment
from car_rental_system.urls import urlpatterns as project_urlpatterns
from rentals.models import Rental

_engine = None
_compiled: dict[tuple[str, int], object] = {}
_padding: dict[str, int] = {}

HEAD = """<!doctype html><html lang="zh-hans"><head><meta charset="utf-8"><title>{{ title }}</title>
<link rel="stylesheet" href="/static/app.css"></head><body>
<nav><a href="/">Home</a> <a href="/accounts/orders/">Orders</a> <span>{{ user.username }}</span>
<form action="/accounts/logout/" method="post">{% csrf_token %}<button>Log out</button></form></nav><main>
"""
FOOT = "</main><footer>Car rental</footer></body></html>\n"

SOURCES = {
    "detail": HEAD
    + """<h1>Order {{ rental.pk }}</h1><p>{{ rental.get_status_display }}</p>
<dl><dt>Car</dt><dd>{{ rental.vehicle.brand }} {{ rental.vehicle.model }} {{ rental.vehicle.plate_number }}</dd>
<dt>Pick-up</dt><dd>{{ rental.start_time|date:"Y-m-d H:i" }} {{ rental.pickup_location.name }}</dd>
<dt>Return</dt><dd>{{ rental.end_time|date:"Y-m-d H:i" }} {{ rental.return_location.name }}</dd></dl>
<table><tr><th>Rent</th><td>{{ rental.base_rent }}</td></tr><tr><th>Discount</th><td>{{ rental.discount_amount }}</td></tr>
<tr><th>Deposit</th><td>{{ rental.deposit }}</td></tr><tr><th>Total</th><td>{{ rental.order_total }}</td></tr>
<tr><th>Paid</th><td>{{ paid }}</td></tr><tr><th>Refunded</th><td>{{ refunded }}</td></tr></table>
<ul>{% for p in payments %}<li data-id="{{ p.transaction_id }}">{{ p.get_transaction_type_display }} {{ p.get_payment_method_display }}
{{ p.amount }} {{ p.get_status_display }} {{ p.created_at|date:"Y-m-d H:i" }}</li>{% endfor %}</ul>
"""
    + FOOT,
    "pay": HEAD
    + """<h1>Pay order {{ rental.pk }}</h1><p>{{ rental.vehicle.brand }} {{ rental.vehicle.model }}
{{ rental.start_time|date:"Y-m-d H:i" }} {{ rental.end_time|date:"Y-m-d H:i" }}</p>
<dl><dt>Total</dt><dd>{{ rental.order_total }}</dd><dt>Paid</dt><dd>{{ paid }}</dd><dt>To pay</dt><dd>{{ remaining }}</dd></dl>
<form method="post">{% csrf_token %}{{ form }}<button>Pay {{ remaining }}</button></form>
"""
    + FOOT,
    "orders": HEAD
    + """<h1>My orders</h1><ul>{% for rental in page %}<li><a href="/accounts/orders/{{ rental.pk }}/">{{ rental.pk }}</a>
{{ rental.get_status_display }} {{ rental.vehicle.brand }} {{ rental.vehicle.model }} {{ rental.start_time|date:"Y-m-d H:i" }}
{{ rental.order_total }} {% for p in rental.payments.all %}{{ p.amount }} {% endfor %}</li>{% endfor %}</ul>
<p>{{ page.number }} / {{ page.paginator.num_pages }}</p>
"""
    + FOOT,
    "report": HEAD
    + """<h1>Consumption report</h1><p>{{ totals.orders }} {{ totals.paid }} {{ totals.refunded }}</p>
<ul>{% for month in months %}<li>{{ month.month|date:"Y-m" }} {{ month.paid }}</li>{% endfor %}</ul>
<table>{% for rental in page %}<tr><td>{{ rental.pk }}</td><td>{{ rental.created_at|date:"Y-m-d" }}</td>
<td>{{ rental.vehicle.brand }} {{ rental.vehicle.model }}</td><td>{{ rental.order_total }}</td>
<td>{% for p in rental.payments.all %}{{ p.amount }} {% endfor %}</td></tr>{% endfor %}</table>
<p>{{ page.number }} / {{ page.paginator.num_pages }}</p>
"""
    + FOOT,
}


def engine() -> DjangoTemplates:
    """A template engine set up like the project's (cached loader when DEBUG is off)."""
    global _engine
    if _engine is None:
        from django.conf import settings

        # Django's own tags only: none of the project's template libraries
        options = {"context_processors": settings.TEMPLATES[0]["OPTIONS"]["context_processors"]}
        _engine = DjangoTemplates({"NAME": "minimal", "DIRS": [], "APP_DIRS": False, "OPTIONS": options})
    return _engine


def pad(name: str, extra: int) -> None:
    """Make the page ``name`` ``extra`` bytes longer: a constant comment at the
    end of its template (compiled once, like any other text of a template)."""
    _padding[name] = max(0, extra)


def template(name: str):
    extra = _padding.get(name, 0)
    key = (name, extra)
    if key not in _compiled:
        source = SOURCES[name]
        if extra >= 9:
            source += "<!-- " + "x" * (extra - 9) + " -->"
        _compiled[key] = engine().from_string(source)
    return _compiled[key]


def render(request, name: str, context: dict) -> HttpResponse:
    return HttpResponse(template(name).render(context, request))


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return JsonResponse({"status": "ok", "database": "ok"})


@login_required
def charge_status(request, transaction_id):
    charge = get_object_or_404(Payment, transaction_id=transaction_id, rental__customer__user=request.user)
    return JsonResponse(
        {
            "transaction_id": charge.transaction_id,
            "status": charge.status,
            "open": charge.status in Payment.OPEN_STATUSES,
            "next_url": reverse("payments:return", args=[charge.transaction_id]),
        }
    )


def _rental(request, pk):
    return get_object_or_404(
        Rental.objects.select_related("vehicle", "pickup_location", "return_location"),
        pk=pk,
        customer__user=request.user,
    )


def _sums(payments) -> tuple[Decimal, Decimal]:
    paid = sum((p.amount for p in payments if p.transaction_type == "CHARGE" and p.status == "PAID"), Decimal(0))
    refunded = sum(
        (p.amount for p in payments if p.transaction_type == "REFUND" and p.status == "REFUNDED"), Decimal(0)
    )
    return paid, refunded


@login_required
def order_detail(request, pk):
    rental = _rental(request, pk)
    payments = list(rental.payments.order_by("created_at", "id"))
    paid, refunded = _sums(payments)
    context = {"title": "Order", "rental": rental, "payments": payments, "paid": paid, "refunded": refunded}
    return render(request, "detail", context)


class PayForm(forms.Form):
    payment_method = forms.ChoiceField(choices=Payment.Method.choices, widget=forms.RadioSelect)
    expected_amount = forms.DecimalField(widget=forms.HiddenInput)


@login_required
def pay(request, pk):
    rental = _rental(request, pk)
    paid, refunded = _sums(list(rental.payments.all()))
    remaining = max(Decimal(0), rental.order_total - paid + refunded)
    form = PayForm(initial={"expected_amount": remaining})
    context = {"title": "Pay", "rental": rental, "paid": paid, "remaining": remaining, "form": form}
    return render(request, "pay", context)


def _customer_rentals(request):
    return (
        Rental.objects.filter(customer__user=request.user)
        .select_related("vehicle")
        .prefetch_related("payments")
        .order_by("-created_at", "-id")
    )


@login_required
def orders(request):
    page = Paginator(_customer_rentals(request), 20).get_page(request.GET.get("page"))
    return render(request, "orders", {"title": "Orders", "page": page})


@login_required
def report(request):
    mine = Payment.objects.filter(rental__customer__user=request.user, status__in=("PAID", "REFUNDED"))
    totals = mine.aggregate(orders=Count("rental", distinct=True), paid=Sum("amount"))
    totals["refunded"] = Decimal(0)
    months = mine.annotate(month=TruncMonth("created_at")).values("month").annotate(paid=Sum("amount"))
    page = Paginator(_customer_rentals(request), 20).get_page(request.GET.get("page"))
    context = {"title": "Report", "totals": totals, "months": list(months.order_by("month")), "page": page}
    return render(request, "report", context)


urlpatterns = [
    path("minimal/healthz", healthz),
    path("minimal/status/<str:transaction_id>/", charge_status),
    path("minimal/orders/", orders),
    path("minimal/orders/<int:pk>/", order_detail),
    path("minimal/orders/<int:pk>/pay/", pay),
    path("minimal/report/", report),
] + list(project_urlpatterns)
