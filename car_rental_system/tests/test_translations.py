"""The Simplified-Chinese catalogue: complete, compiled, and used by the pages.

The .po is read with a small parser of its own (no gettext binaries, no extra
package), so these tests also run on machines without gettext.
"""

import ast
import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation

from accounts.tests.factories import PaymentFactory
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

PO_PATH = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO_PATH = PO_PATH.with_suffix(".mo")
TEMPLATES_DIR = Path(settings.BASE_DIR) / "templates"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}|</?[a-zA-Z][^>]*>")


# --- a small .po parser ----------------------------------------------------------


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False
    line: int = 0


def parse_po(text: str) -> list[Entry]:
    """Entries of a .po file, header included (msgid "")."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] | None = None  # the field a continuation line extends

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        after_msgstr = current is not None and target is not None and target[0] == "msgstr"
        if not line or (after_msgstr and (line.startswith("#") or line.startswith(("msgid ", "msgctxt ")))):
            if current is not None:
                entries.append(current)
            current, target = None, None
            if not line:
                continue
        if current is None:
            current = Entry(line=number)
        if line.startswith("#~"):
            current.obsolete = True
        elif line.startswith("#,"):
            current.flags.update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            key, index = target
            if key == "msgstr":
                current.msgstr[index] += ast.literal_eval(line)
            else:
                setattr(current, key, getattr(current, key) + ast.literal_eval(line))
        else:
            keyword, _, rest = line.partition(" ")
            value = ast.literal_eval(rest)
            if keyword.startswith("msgstr"):
                index = int(keyword[len("msgstr[") : -1]) if keyword.startswith("msgstr[") else 0
                current.msgstr[index] = value
                target = ("msgstr", index)
            else:
                setattr(current, keyword, value)
                target = (keyword, 0)
    if current is not None:
        entries.append(current)
    return entries


@pytest.fixture(scope="module")
def catalogue() -> list[Entry]:
    entries = [e for e in parse_po(PO_PATH.read_text(encoding="utf-8")) if not e.obsolete]
    assert entries and entries[0].msgid == "", "the .po starts with its header"
    return entries[1:]


def test_parser_reads_multiline_plural_and_fuzzy_entries():
    text = (
        'msgid ""\nmsgstr ""\n"Language: zh_Hans\\n"\n\n'
        '#: a.py:1\n#, fuzzy, python-format\nmsgid "Hello %(name)s"\nmsgstr "你好 %(name)s"\n\n'
        'msgid ""\n"two "\n"lines"\nmsgstr ""\n"两"\n"行"\n\n'
        'msgid "%(n)s car"\nmsgid_plural "%(n)s cars"\nmsgstr[0] ""\n\n'
        'msgctxt "verb"\nmsgid "Book"\nmsgstr "预订"\n'
    )

    header, fuzzy, multi, plural, context = parse_po(text)

    assert header.msgstr[0] == "Language: zh_Hans\n"
    assert fuzzy.flags == {"fuzzy", "python-format"} and fuzzy.msgstr[0] == "你好 %(name)s"
    assert multi.msgid == "two lines" and multi.msgstr[0] == "两行"
    assert plural.msgid_plural == "%(n)s cars" and plural.msgstr == {0: ""}
    assert context.msgctxt == "verb" and context.msgstr[0] == "预订"


# --- (a) complete -----------------------------------------------------------------


def test_catalogue_is_chinese_with_one_plural_form():
    header = parse_po(PO_PATH.read_text(encoding="utf-8"))[0].msgstr[0]

    assert "Language: zh_Hans" in header
    assert "Plural-Forms: nplurals=1; plural=0;" in header
    assert "charset=UTF-8" in header


def test_every_entry_is_translated_and_none_is_fuzzy(catalogue):
    assert len(catalogue) > 300  # the whole product, not a stub
    untranslated = [e.msgid for e in catalogue if not e.msgstr or any(not s.strip() for s in e.msgstr.values())]
    fuzzy = [e.msgid for e in catalogue if "fuzzy" in e.flags]
    extra_forms = [e.msgid for e in catalogue if e.msgid_plural and set(e.msgstr) != {0}]

    assert untranslated == []
    assert fuzzy == []
    assert extra_forms == []  # Chinese has one form: msgstr[0] only


def test_translations_keep_every_placeholder_and_tag(catalogue):
    broken = []
    for entry in catalogue:
        for source in filter(None, (entry.msgid, entry.msgid_plural)):
            if sorted(set(PLACEHOLDER.findall(source))) != sorted(set(PLACEHOLDER.findall(entry.msgstr[0]))):
                broken.append((source, entry.msgstr[0]))
    assert broken == []


def test_translations_are_chinese(catalogue):
    han = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")  # Han, CJK or full-width punctuation
    # Strings that are the same in both languages (seat filters like "4+" are translated too).
    not_chinese = [e.msgid for e in catalogue if not han.search(e.msgstr[0])]
    assert not_chinese == []


@pytest.mark.parametrize(
    ("msgid", "msgstr"),
    [
        ("To pay", "待支付"),
        ("Paid in full", "已付清"),
        ("Refund pending", "待退款"),
        ("Settled", "已结清"),
        ("Pending pick-up", "待取车"),
        ("Ongoing", "租用中"),
        ("Overdue", "已逾期"),
        ("Completed", "已完成"),
        ("Cancelled", "已取消"),
        ("Unsettled", "未结算"),
        ("Partially settled", "部分结算"),
        ("Alipay", "支付宝"),
        ("WeChat Pay", "微信支付"),
        ("Bank card", "银行卡"),
        ("Cash", "现金"),
        ("Deposit", "押金"),
        ("One-way fee", "异地还车费"),
        ("Overdue fee", "超时费"),
        ("Damage fee", "车损费"),
        ("Member discount", "会员折扣"),
        ("Refund", "退款"),
        ("Pick-up store", "取车门店"),
        ("Return store", "还车门店"),
    ],
)
def test_fixed_terms(catalogue, msgid, msgstr):
    by_id = {e.msgid: e.msgstr[0] for e in catalogue if e.msgctxt is None}
    assert by_id[msgid] == msgstr


# --- (b) the committed .mo is the .po ----------------------------------------------


def test_compiled_catalogue_is_committed_next_to_the_po():
    assert MO_PATH.exists(), "run `make messages` and commit locale/zh_Hans/LC_MESSAGES/django.mo"


def test_gettext_returns_the_po_translation_for_every_entry(catalogue):
    out_of_sync = []
    with translation.override("zh-hans"):
        for entry in catalogue:
            if entry.msgctxt is not None:
                continue
            if entry.msgid_plural:
                got = translation.ngettext(entry.msgid, entry.msgid_plural, 2)
            else:
                got = translation.gettext(entry.msgid)
            if got != entry.msgstr[0]:
                out_of_sync.append((entry.msgid, entry.msgstr[0], got))
    assert out_of_sync == [], "the .mo is older than the .po: run `make messages` and commit both"


def test_english_is_the_msgid(catalogue):
    with translation.override("en"):
        assert translation.gettext("My orders") == "My orders"
        assert translation.gettext("To pay") == "To pay"


# --- (d) every template string, the staff pages included, is in the catalogue -----

TRANSLATE_TAG = re.compile(r"""\{%\s*trans(?:late)?\s+(?P<q>["'])(?P<text>.*?)(?P=q)(?P<rest>[^%]*)%\}""")
BLOCK_TAG = re.compile(
    r"\{%\s*blocktrans(?:late)?\b(?P<options>[^%]*)%\}(?P<body>.*?)\{%\s*endblocktrans(?:late)?\s*%\}", re.S
)
VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def template_msgids(source: str) -> set[str]:
    """The msgids makemessages takes from one template (no msgctxt is used here)."""
    found = set()
    for match in TRANSLATE_TAG.finditer(source):
        assert "context" not in match.group("rest")
        found.add(match.group("text"))
    for match in BLOCK_TAG.finditer(source):
        assert "context" not in match.group("options")
        for part in re.split(r"\{%\s*plural\s*%\}", match.group("body")):
            text = VARIABLE.sub(r"%(\1)s", part.replace("%", "%%")).replace("%%(", "%(")
            if "trimmed" in match.group("options"):
                text = " ".join(text.split())
            found.add(text)
    return found


def all_templates() -> list[Path]:
    return sorted(TEMPLATES_DIR.rglob("*.html"))


def test_template_scanner_reads_both_tags():
    source = (
        "{% translate \"Log in\" %}{% trans 'Home' %}"
        "{% blocktranslate with order=rental.pk %}Order #{{ order }}{% endblocktranslate %}"
        "{% blocktranslate count days=n %}{{ days }} day{% plural %}{{ days }} days{% endblocktranslate %}"
    )
    assert template_msgids(source) == {"Log in", "Home", "Order #%(order)s", "%(days)s day", "%(days)s days"}


def test_staff_templates_have_strings_to_check():
    staff = [path for path in all_templates() if "admin" in path.relative_to(TEMPLATES_DIR).parts]
    with_strings = [path.name for path in staff if template_msgids(path.read_text(encoding="utf-8"))]
    assert {"dashboard.html", "action_base.html", "return.html", "cancel.html"} <= set(with_strings)


@pytest.mark.parametrize("path", all_templates(), ids=lambda p: str(p.relative_to(TEMPLATES_DIR)))
def test_every_template_string_is_translated(catalogue, path):
    translated = {e.msgid for e in catalogue if e.msgstr.get(0)} | {
        e.msgid_plural for e in catalogue if e.msgid_plural and e.msgstr.get(0)
    }
    missing = sorted(template_msgids(path.read_text(encoding="utf-8")) - translated)
    assert missing == [], f"not in the catalogue yet: run `make messages` and translate {missing}"


# --- (c) the pages ------------------------------------------------------------------


class VisibleText(HTMLParser):
    """Text a person reads: text nodes, title/aria-label/placeholder/alt and button values; no scripts."""

    SKIP = {"script", "style"}
    ATTRIBUTES = {"aria-label", "placeholder", "title", "alt"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skipping += 1
        attributes = dict(attrs)
        for name, value in attrs:
            if name in self.ATTRIBUTES and value:
                self.parts.append(value)
        if tag == "input" and attributes.get("type") in ("submit", "button") and attributes.get("value"):
            self.parts.append(attributes["value"])

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data):
        if not self._skipping and data.strip():
            self.parts.append(data.strip())


def visible_text(response) -> str:
    parser = VisibleText()
    parser.feed(response.content.decode())
    return "\n".join(parser.parts)


# (English, Chinese) pairs of the chrome every page shows.
CHROME = [
    ("Car rental", "租车"),
    ("Cars", "车辆"),
    ("Customer service", "客服热线"),
    ("All prices in CNY, taxes included.", "所有价格均以人民币计，已含税。"),
]
SIGNED_IN_CHROME = [
    ("My orders", "我的订单"),
    ("Consumption report", "消费报告"),
    ("Notifications", "消息通知"),
    ("Log out", "退出登录"),
]
ANONYMOUS_CHROME = [("Log in", "登录"), ("Register", "注册")]

PAGE_WORDS = {
    "home": [("Find a car", "找车"), ("Search", "搜索"), ("Filters", "筛选"), ("Details", "详情"), ("Book", "预订")],
    "login": [("No account yet?", "还没有账号？"), ("Username", "用户名"), ("Password", "密码")],
    "register": [
        ("Create your account", "注册账号"),
        ("Already registered?", "已有账号？"),
        ("Driver licence number", "驾驶证号"),
        ("Password again", "确认密码"),
    ],
    "orders": [
        ("Book another car", "再租一辆"),
        ("Pending pick-up", "待取车"),
        ("To pay", "待支付"),
        ("Details", "详情"),
        ("Write a review", None),  # not shown for a pending order
        ("Cancel", "取消"),
    ],
    "order_detail": [
        ("Price breakdown", "费用明细"),
        ("Deposit (refundable)", "押金（可退）"),
        ("One-way fee", "异地还车费"),
        ("Order total", "订单总额"),
        ("Remaining to pay", "待支付金额"),
        ("Charges and refunds", "收支记录"),
        ("Cancel the order", "取消订单"),
        ("Alipay", "支付宝"),
    ],
    "consumption_report": [
        ("Net paid per month", "每月净支付"),
        ("Spent", "实际消费"),
        ("Deposits held", "在押押金"),
        ("Still to pay", "待支付"),
        ("Rental fee", "租金小计"),
    ],
    "notifications": [("Mark all as read", "全部标为已读"), ("No notifications yet.", "暂无通知。")],
    "book": [
        ("Book now", "立即预订"),
        ("Price breakdown", "费用明细"),
        ("Pick-up time", "取车时间"),
        ("Return store", "还车门店"),
        ("Total to pay", "应付总额"),
    ],
}


@pytest.fixture
def one_order(customer, vehicle):
    """A pending booking with part of it paid by Alipay."""
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    PaymentFactory(rental=rental, amount=Decimal("100.00"))
    rental.refresh_financials()
    return rental


def page_urls(rental) -> dict[str, tuple[str, bool]]:
    """Page name → (url, signed in?)."""
    return {
        "home": (reverse("vehicles:home"), False),
        "login": (reverse("accounts:login"), False),
        "register": (reverse("accounts:register"), False),
        "orders": (reverse("accounts:orders"), True),
        "order_detail": (reverse("accounts:order_detail", args=[rental.pk]), True),
        "consumption_report": (reverse("accounts:consumption_report"), True),
        "notifications": (reverse("accounts:notifications"), True),
        "book": (reverse("rentals:new", args=[rental.vehicle_id]), True),
    }


def expected_words(page: str, signed_in: bool) -> list[tuple[str, str | None]]:
    return CHROME + (SIGNED_IN_CHROME if signed_in else ANONYMOUS_CHROME) + PAGE_WORDS[page]


@pytest.mark.parametrize("page", list(PAGE_WORDS))
def test_customer_page_in_chinese_has_no_english_chrome(client, customer, one_order, page):
    url, signed_in = page_urls(one_order)[page]
    if signed_in:
        client.force_login(customer.user)

    response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 200
    text = visible_text(response)
    for english, chinese in expected_words(page, signed_in):
        assert english not in text, f"{page}: untranslated {english!r}"
        if chinese:
            assert chinese in text, f"{page}: {chinese!r} missing"


@pytest.mark.parametrize("page", list(PAGE_WORDS))
def test_customer_page_in_english_has_no_chinese_chrome(client, customer, one_order, page):
    url, signed_in = page_urls(one_order)[page]
    if signed_in:
        client.force_login(customer.user)

    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    text = visible_text(response)
    for english, chinese in expected_words(page, signed_in):
        if chinese is None:
            continue
        assert english in text, f"{page}: {english!r} missing"
        assert chinese not in text, f"{page}: Chinese {chinese!r} on the English page"


ENGLISH_RUN = re.compile(r"[A-Za-z]{2,}(?:[ '-][A-Za-z]{2,})+")


@pytest.mark.parametrize("page", list(PAGE_WORDS))
def test_chinese_page_shows_no_english_sentence_at_all(client, customer, one_order, page):
    """Catches strings nobody marked for translation, not only the ones listed above."""
    url, signed_in = page_urls(one_order)[page]
    if signed_in:
        client.force_login(customer.user)
    vehicle = one_order.vehicle
    data = {
        f"{vehicle.brand} {vehicle.model}",
        vehicle.brand,
        vehicle.model,
        one_order.pickup_location.name,
        vehicle.location.name,
        customer.user.get_username(),
        "English",  # the language switcher names each language in itself
    }

    response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")

    runs = [run for run in ENGLISH_RUN.findall(visible_text(response)) if not any(run in d for d in data)]
    assert runs == []


# --- (d) the staff pages render in Chinese ----------------------------------------

# Django's own admin chrome that its zh_Hans catalogue leaves in English
# (visually hidden table headers and the search icon's alt text).
DJANGO_ADMIN_ENGLISH = {"Model name", "Add link", "Change or view list link", "Search"}

STAFF_WORDS = {
    "index": ["财务", "财务看板", "租车订单", "支付与账务"],
    "dashboard": ["财务看板", "今日", "本月", "在押押金", "导出支付记录（CSV）"],
    "payments": ["交易号", "支付宝", "已支付"],
    "rentals": ["待取车", "租用中", "订单总额", "待付金额"],
    "rental": ["办理还车", "柜台收款", "人工退款", "取消订单", "时间与门店"],
    "return": ["办理订单", "实付净额", "还车门店", "预览"],
    "payment": ["柜台收款", "登记收款"],
    "refund": ["人工退款", "登记退款"],
    "cancel": ["取消订单", "到店散客，无账号", "取消费"],
    "pickup": ["交车", "确认交车"],
}


@pytest.fixture
def staff_pages(client, staff_user, customer, walk_in_customer, vehicle, other_location):
    """A superuser's client, the staff page urls, and the data values allowed in English."""
    from rentals.tests.admin_support import admin_url, ongoing_rental
    from vehicles.tests.factories import VehicleFactory

    client.force_login(staff_user)
    out = ongoing_rental(
        vehicle=vehicle, customer=customer, start=timezone.now() - timedelta(days=4), paid=Decimal("500.00")
    )
    # starts within the hand-over window, so the pick-up page offers the hand-over
    booked = RentalFactory(
        customer=walk_in_customer,
        vehicle=VehicleFactory(location=other_location),
        start_time=timezone.now() + timedelta(minutes=30),
    )
    urls = {
        "index": reverse("admin:index"),
        "dashboard": reverse("admin:accounts_payment_dashboard"),
        "payments": reverse("admin:accounts_payment_changelist"),
        "rentals": reverse("admin:rentals_rental_changelist"),
        "rental": reverse("admin:rentals_rental_change", args=[out.pk]),
        "return": admin_url("return", out),
        "payment": admin_url("payment", out),
        "refund": admin_url("refund", out),
        "cancel": admin_url("cancel", booked),
        "pickup": admin_url("pickup", booked),
    }
    data = {f"{vehicle.brand} {vehicle.model}", "sandbox", customer.user.get_username(), staff_user.get_username()}
    return client, urls, data


@pytest.mark.parametrize("page", list(STAFF_WORDS))
def test_staff_page_in_chinese_shows_no_english_of_ours(staff_pages, page):
    client, urls, data = staff_pages

    response = client.get(urls[page], HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 200
    text = visible_text(response)
    for word in STAFF_WORDS[page]:
        assert word in text, f"{page}: {word!r} missing"
    runs = {run for run in ENGLISH_RUN.findall(text) if not any(run in d for d in data)}
    assert runs - DJANGO_ADMIN_ENGLISH == set()
