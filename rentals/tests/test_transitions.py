"""One transition path for rental statuses, single and bulk (rentals/services/transitions.py):
the table's check, the audit row and the notice with its kind, read in the reader's language;
and every event code the code writes has a label staff can read and filter on."""

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

from accounts.models import Notification, PaymentEvent
from rentals.exceptions import InvalidTransition
from rentals.models import Rental, RentalEvent
from rentals.services import advance_rental_status, advance_statuses
from rentals.services.transitions import MoveRow, move_many_by_time
from rentals.tests.admin_support import NOW, ongoing_rental

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def _overdue_rental(vehicle, customer):
    # handed over three days ago for two days: a day late now
    return ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(days=3), days=2)


@pytest.mark.parametrize("path", ["bulk", "single"])
def test_an_overdue_move_made_in_english_is_read_in_chinese(client, customer, vehicle, frozen, path):
    rental = _overdue_rental(vehicle, customer)
    with translation.override("en"):
        if path == "bulk":
            assert advance_statuses(now=NOW)["to_overdue"] == 1
        else:
            assert advance_rental_status(rental=Rental.objects.get(pk=rental.pk), now=NOW)

    notice = Notification.objects.get(rental=rental, notification_type=Notification.Type.RENTAL_OVERDUE)
    assert notice.kind == "rental_overdue"
    assert notice.params == {"order": rental.pk, "end": Rental.objects.get(pk=rental.pk).end_time.isoformat()}
    # stored in the default language for the admin, whatever was active
    assert notice.title == f"订单 #{rental.pk} 已逾期"

    client.force_login(customer.user)
    zh = client.get(reverse("accounts:notifications"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    en = client.get(reverse("accounts:notifications"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"订单 #{rental.pk} 已逾期" in zh and f"Order #{rental.pk} is overdue" not in zh
    assert f"Order #{rental.pk} is overdue" in en and "已逾期" not in en

    event = RentalEvent.objects.get(rental=rental, event=RentalEvent.Code.STATUS_BY_TIME)
    assert (event.from_status, event.to_status) == (Rental.Status.ONGOING, Rental.Status.OVERDUE)
    assert Rental.objects.get(pk=rental.pk).status == Rental.Status.OVERDUE


def test_the_bulk_move_checks_the_transition_table_for_every_row(customer, vehicle, frozen):
    rental = _overdue_rental(vehicle, customer)
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.COMPLETED)
    row = MoveRow(rental.pk, Rental.Status.COMPLETED, vehicle.pk, customer.user_id, rental.end_time)
    with pytest.raises(InvalidTransition):
        move_many_by_time(rows=[row], to=Rental.Status.OVERDUE, now=NOW)
    assert Rental.objects.get(pk=rental.pk).status == Rental.Status.COMPLETED
    assert not RentalEvent.objects.filter(rental=rental, event=RentalEvent.Code.STATUS_BY_TIME).exists()
    assert not Notification.objects.filter(rental=rental).exists()


# --- every event code written has a label ---------------------------------------------------

RENTAL_WRITERS = {"record_rental_event", "transition_rental", "RentalEvent"}
PAYMENT_WRITERS = {"record_payment_event", "transition_payment", "PaymentEvent", "build_refund_rows", "issue_refund"}


def _strings(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def _codes(node: ast.AST) -> set[str]:
    """Event codes in an ``event=`` value: literals and ``Code.X`` members."""
    found = _strings(node)
    for attribute in ast.walk(node):
        inner = getattr(attribute, "value", None)
        if isinstance(attribute, ast.Attribute) and isinstance(inner, ast.Attribute) and inner.attr == "Code":
            model = RentalEvent if ast.unparse(inner.value) == "RentalEvent" else PaymentEvent
            found.add(model.Code[attribute.attr].value)
    return found


def written_codes() -> dict[str, set[str]]:
    """{"rental": codes, "payment": codes} written anywhere in the product code:
    ``event=`` of the writers' calls, and the defaults of their ``event`` parameters."""
    found: dict[str, set[str]] = {"rental": set(), "payment": set()}
    for app in ("accounts", "rentals", "customers", "vehicles", "car_rental_system"):
        for path in (ROOT / app).rglob("*.py"):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                    kind = "rental" if name in RENTAL_WRITERS else "payment" if name in PAYMENT_WRITERS else ""
                    for keyword in node.keywords:
                        if kind and keyword.arg == "event":
                            found[kind] |= _codes(keyword.value)
                elif isinstance(node, ast.FunctionDef) and node.name in RENTAL_WRITERS | PAYMENT_WRITERS:
                    kind = "rental" if node.name in RENTAL_WRITERS else "payment"
                    args = node.args.kwonlyargs
                    for arg, default in zip(args, node.args.kw_defaults, strict=True):
                        if arg.arg == "event" and default is not None:
                            found[kind] |= _codes(default)
    return found


def test_the_scan_finds_the_codes_it_should():
    codes = written_codes()
    assert {"created", "status_by_time", "lapsed", "cancelled", "picked_up", "returned"} <= codes["rental"]
    assert {"refund_issued", "refund_requested", "counter_payment", "callback_received"} <= codes["payment"]


@pytest.mark.parametrize(("kind", "model"), [("rental", RentalEvent), ("payment", PaymentEvent)])
def test_every_event_code_written_has_a_label(kind, model):
    unlabelled = written_codes()[kind] - set(model.Code.values)
    assert not unlabelled, f"{model.__name__} codes without a label: {sorted(unlabelled)}"
    assert model.LABELS == dict(model.Code.choices)


def test_the_admin_event_filters_list_every_code(admin_client):
    from accounts.admin import PaymentEventFilter
    from rentals.admin import RentalEventFilter

    assert set(RentalEventFilter.labels) == set(RentalEvent.Code.values)
    assert set(PaymentEventFilter.labels) == set(PaymentEvent.Code.values)
    response = admin_client.get(reverse("admin:rentals_rentalevent_changelist"), {"event": "lapsed"})
    assert response.status_code == 200
    assert str(RentalEvent.Code.LAPSED.label) in response.content.decode()
