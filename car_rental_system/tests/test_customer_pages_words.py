"""Every customer page, in Chinese, over the demo data (``seed_demo``: orders
in every status for four customers) plus a declined charge and a refused
refund with the providers' English words: no raw status code, no English
provider message, no ASCII punctuation inside a Chinese sentence and no space
between two Chinese sentences.

The Chinese catalogue itself is held to the same punctuation rule."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import Payment
from accounts.providers.sandbox import REFUND_REFUSAL
from car_rental_system.tests.test_translations import PO_PATH, parse_po, visible_text
from customers.models import Customer
from rentals.models import Rental
from vehicles.models import Location, Vehicle

pytestmark = pytest.mark.django_db

# Codes the database stores; a page shows their labels.
RAW_CODES = re.compile(
    r"\b(PENDING|PROCESSING|PAID|REFUNDED|CANCELLED|EXPIRED|FAILED|ONGOING|OVERDUE|COMPLETED"
    r"|CHARGE|REFUND|ALIPAY|WECHAT|CARD|CASH|REGULAR|SILVER|PAYMENT_\w+|REFUND_\w+|ORDER_\w+|RENTAL_\w+)\b"
)
ENGLISH_RUN = re.compile(r"[A-Za-z]{2,}(?:[ '-][A-Za-z]{2,})+")
HAN = r"[\u4e00-\u9fff\u3000-\u303f\uff01-\uff5e“”‘’]"
# An ASCII , . : ; ( ) ! ? touching a Chinese character or full-width mark.
ASCII_IN_CHINESE = re.compile(rf"{HAN}\s?[,.:;()!?]|[,.:;()!?]\s?{HAN}")
# A space between two Chinese sentences ("。 将退款").
SPACE_AFTER_CHINESE_STOP = re.compile(r"[。！？] +\S")
# Provider words a customer must never read (they stay on the rows for staff).
PROVIDER_WORDS = [REFUND_REFUSAL, "Declined by the bank", "insufficient balance"]


def _demo_with_provider_failures() -> None:
    call_command("seed_demo", stdout=StringIO())
    # a declined charge and a refused refund, in the providers' own English
    pending = Rental.objects.filter(status=Rental.Status.PENDING, customer__user__isnull=False).first()
    Payment.objects.create(
        rental=pending,
        amount=pending.order_total,
        transaction_type=Payment.TransactionType.CHARGE,
        status=Payment.Status.FAILED,
        transaction_id="PAYWORDSDECLINED01",
        provider="sandbox",
        failure_reason="Declined by the bank: insufficient balance",
    )
    refunded = Payment.objects.filter(
        transaction_type="REFUND", status="REFUNDED", rental__customer__user__isnull=False
    )
    refund = refunded.first()
    Payment.objects.create(
        rental=refund.rental,
        refund_of=refund.refund_of,
        amount=refund.amount,
        transaction_type=Payment.TransactionType.REFUND,
        status=Payment.Status.FAILED,
        transaction_id="REFWORDSREFUSED01",
        provider="sandbox",
        payment_method=refund.payment_method,
        failure_reason=REFUND_REFUSAL,
    )


def _customer_pages(customer: Customer) -> list[str]:
    vehicle = Vehicle.objects.order_by("pk").first()
    urls = [
        reverse("vehicles:home"),
        reverse("vehicles:list"),
        reverse("vehicles:detail", args=[vehicle.pk]),
        reverse("rentals:new", args=[vehicle.pk]),
        reverse("accounts:orders"),
        reverse("accounts:consumption_report"),
        reverse("accounts:notifications"),
        reverse("vehicles:stores"),
        reverse("vehicles:store", args=[vehicle.location_id]),
    ]
    for rental in Rental.objects.filter(customer=customer).order_by("pk"):
        urls.append(reverse("accounts:order_detail", args=[rental.pk]))
        if rental.status == Rental.Status.PENDING:
            urls.append(reverse("rentals:cancel", args=[rental.pk]))
            if rental.money_figures().remaining > 0:
                urls.append(reverse("accounts:pay", args=[rental.pk]))
        for charge in rental.payments.filter(transaction_type=Payment.TransactionType.CHARGE):
            urls.append(reverse("payments:return", args=[charge.transaction_id]))
    return urls


def _data_words() -> set[str]:
    """Names from the data that may be written in Latin letters."""
    words = {"English"}  # the language switcher names each language in itself
    for brand, model, plate in Vehicle.objects.values_list("brand", "model", "plate_number"):
        words |= {brand, model, f"{brand} {model}", plate}
    words |= set(Location.objects.values_list("name", flat=True))
    words |= set(Customer.objects.values_list("user__username", flat=True))
    return {w for w in words if w}


def test_no_customer_page_shows_a_raw_code_an_english_provider_message_or_ascii_punctuation(client):
    _demo_with_provider_failures()
    data = _data_words()
    problems: list[tuple[str, str, str]] = []
    statuses_seen: set[str] = set()

    pages = 0
    for customer in Customer.objects.filter(user__isnull=False).order_by("pk"):
        client.force_login(customer.user)
        statuses_seen |= set(Rental.objects.filter(customer=customer).values_list("status", flat=True))
        for url in _customer_pages(customer):
            response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
            assert response.status_code == 200, url
            pages += 1
            text = visible_text(response)
            for code in RAW_CODES.findall(text):
                problems.append((url, "raw code", code))
            for words in PROVIDER_WORDS:
                if words.lower() in response.content.decode().lower():
                    problems.append((url, "provider words", words))
            for run in ENGLISH_RUN.findall(text):
                if not any(run in d for d in data):
                    problems.append((url, "English", run))
            for match in SPACE_AFTER_CHINESE_STOP.finditer(text):
                problems.append((url, "space after a Chinese full stop", match.group()))
            for line in text.splitlines():
                for match in ASCII_IN_CHINESE.finditer(line):
                    problems.append((url, "ASCII punctuation", line[max(0, match.start() - 8) : match.end() + 8]))

    assert pages > 40
    assert statuses_seen == set(Rental.Status.values)  # every status's order page was read
    assert sorted({(kind, what) for _url, kind, what in problems}) == [], problems[:5]


def test_the_chinese_catalogue_uses_full_width_punctuation():
    entries = [e for e in parse_po(PO_PATH.read_text(encoding="utf-8")) if not e.obsolete][1:]
    placeholder = re.compile(r"%\(\w+\)[sd]|%[sd]|%%|\{\w*\}|<[^>]*>")
    bad = []
    for entry in entries:
        for text in entry.msgstr.values():
            if ASCII_IN_CHINESE.search(placeholder.sub("", text)):
                bad.append((entry.msgid, text))
    assert bad == []
