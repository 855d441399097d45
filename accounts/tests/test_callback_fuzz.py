"""Random bodies and headers against the callback endpoint (SPEC §6).

Whatever arrives, the answer is never a 500, and without a valid signature the
ledger, the payment audit trail tied to a payment, the receipts and the
notifications stay exactly as they were (only a "rejected" row without a
payment is written).
"""

import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts import services
from accounts.models import Payment
from accounts.providers.sandbox import compute_signature, signature_header
from accounts.tests.payment_support import callback_url, ledger_snapshot
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

HEADER = "X-Sandbox-Signature"

header_names = st.sampled_from([HEADER, "x-sandbox-signature", "X-Signature", "Stripe-Signature", "Authorization"])
header_values = st.one_of(
    st.text(max_size=200),
    st.from_regex(r"\At=-?[0-9]{0,15},v1=[0-9a-fA-F]{0,70}\Z"),
    st.from_regex(r"\A(t=[0-9]{10}|v1=[0-9a-f]{64}|[a-z0-9]{1,3}=[^,]{0,10})(,(t=[0-9]{10}|v1=[0-9a-f]{64}))*\Z"),
    st.builds(lambda n: f"t={int(time.time())},v1={n:064x}", st.integers(min_value=0, max_value=2**256 - 1)),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
    max_leaves=12,
)


def _callback_like(transaction_ids):
    """Bodies that look like real callbacks, often for a real open charge."""
    return st.fixed_dictionaries(
        {},
        optional={
            "event_id": st.one_of(st.text(max_size=120), st.from_regex(r"\Aevt_[a-z0-9]{1,20}\Z")),
            "transaction_id": st.one_of(st.sampled_from(transaction_ids), st.text(max_size=50)),
            "status": st.one_of(st.sampled_from(["succeeded", "failed", "cancelled"]), st.text(max_size=12)),
            "amount": st.one_of(st.sampled_from(["2900.00", "2900", "0.01", "-1", "1e9"]), json_values),
            "failure_reason": json_values,
        },
    ).map(lambda d: json.dumps(d).encode())


raw_bodies = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")),
    json_values.map(lambda v: json.dumps(v).encode()),
)


@pytest.fixture
def open_charges(customer, vehicle):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    return [charge]


def _post(client, body: bytes, headers: dict, provider="sandbox"):
    return client.generic("POST", callback_url(provider), data=body, content_type="application/json", headers=headers)


def _assert_unchanged_and_answered(response, before, allowed=(400, 404)):
    assert response.status_code in allowed, (response.status_code, response.content[:200])
    assert response["Content-Type"] == "application/json"
    assert ledger_snapshot() == before


def test_random_bodies_with_random_headers_never_change_the_ledger(client, open_charges, assert_ledger):
    before = ledger_snapshot()
    tx_ids = [c.transaction_id for c in open_charges]

    @settings(max_examples=500)
    @given(
        body=st.one_of(raw_bodies, _callback_like(tx_ids)),
        headers=st.dictionaries(header_names, header_values, max_size=3),
    )
    def run(body, headers):
        _assert_unchanged_and_answered(_post(client, body, headers), before)

    run()
    for charge in open_charges:
        charge.refresh_from_db()
        assert charge.status == Payment.Status.PENDING
        assert_ledger(charge.rental)


def test_a_real_success_body_with_a_forged_or_stale_signature_never_pays(
    client, open_charges, assert_ledger, time_machine
):
    """The most dangerous input: exactly the body that would pay the charge."""
    charge = open_charges[0]
    before = ledger_snapshot()
    now = int(time.time())
    # The clock stands still, so "more than 300 s away" stays true however long
    # the examples take to run.
    time_machine.move_to(datetime.fromtimestamp(now, tz=UTC), tick=False)

    @settings(max_examples=400)
    @given(
        event_id=st.from_regex(r"\Aevt_[a-z0-9]{1,20}\Z"),
        forged=st.one_of(
            # right format, wrong digest
            st.builds(lambda t, d: f"t={t},v1={d:064x}", st.integers(now - 100, now + 100), st.integers(0, 2**256 - 1)),
            # right digest, timestamp outside the tolerance
            st.integers(min_value=301, max_value=10**7).flatmap(
                lambda off: st.sampled_from([now - off, now + off]).map(lambda t: ("stale", t))
            ),
            # right digest over another body
            st.just("other-body"),
            header_values,
        ),
    )
    def run(event_id, forged):
        body = json.dumps(
            {"event_id": event_id, "transaction_id": charge.transaction_id, "status": "succeeded", "amount": "2900.00"}
        ).encode()
        if isinstance(forged, tuple):
            header = signature_header(body, forged[1])
        elif forged == "other-body":
            header = signature_header(body + b" ")
        else:
            header = forged
        _assert_unchanged_and_answered(_post(client, body, {HEADER: header}), before, allowed=(400,))

    run()
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING
    assert charge.amount == Decimal("2900.00")
    assert_ledger(charge.rental)


def test_validly_signed_random_bodies_never_cause_a_500(client, open_charges, assert_ledger):
    """With a good signature the body decides; malformed ones are a 400, and
    anything that parses but names no charge of ours a 404."""
    tx_ids = [c.transaction_id for c in open_charges]

    @settings(max_examples=400)
    @given(body=st.one_of(raw_bodies, _callback_like(tx_ids)))
    def run(body):
        t = int(time.time())
        response = _post(client, body, {HEADER: f"t={t},v1={compute_signature(t, body)}"})
        assert response.status_code in (200, 400, 404, 409), (response.status_code, body[:200])
        assert response["Content-Type"] == "application/json"

    run()
    for charge in open_charges:
        assert_ledger(charge.rental)
    # Every delivery left an audit row with a verdict we know.
    from accounts.models import PaymentEvent

    verdicts = set(PaymentEvent.objects.filter(event="callback_received").values_list("payload__verdict", flat=True))
    assert verdicts and verdicts <= {"accepted", "duplicate", "ignored", "rejected", "amount_mismatch"}


def test_random_provider_names_and_methods_are_answered_without_a_500(client, open_charges):
    before = ledger_snapshot()

    @settings(max_examples=200)
    @given(
        provider=st.text(
            alphabet=st.characters(blacklist_characters="/\\?#%", blacklist_categories=("Cs",)), min_size=1, max_size=30
        ),
        method=st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH"]),
        body=raw_bodies,
    )
    def run(provider, method, body):
        from urllib.parse import quote

        url = f"/api/payments/callback/{quote(provider, safe='')}/"
        response = client.generic(method, url, data=body, content_type="application/json")
        assert response.status_code in (400, 404, 405), (provider, method, response.status_code)
        assert ledger_snapshot() == before

    run()


# --- whitespace and control characters around every field (SPEC §16 Callbacks) ------------

# What a sloppy or hostile sender puts around a value: spaces, tabs, newlines,
# carriage returns, NUL and other C0/C1 controls, Unicode spaces.
_junk_chars = st.sampled_from(
    [" ", "\t", "\n", "\r", "\r\n", "\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u00a0", "\u2028", "\u3000"]
)
garnish = st.tuples(
    st.lists(_junk_chars, max_size=3).map("".join), st.lists(_junk_chars, max_size=3).map("".join)
).filter(lambda around: around[0] or around[1])
BODY_FIELDS = ("event_id", "transaction_id", "status", "amount")


def _garnished(value: str, around: tuple[str, str]) -> str:
    return around[0] + value + around[1]


def test_validly_signed_fields_with_junk_around_them_are_400_and_pay_nothing(client, open_charges, assert_ledger):
    """A correctly signed success for the real charge and the right amount,
    except that one field carries whitespace or a control character around it:
    always a 400, nothing paid, nothing in the ledger."""
    charge = open_charges[0]
    before = ledger_snapshot()

    @settings(max_examples=300)
    @given(field=st.sampled_from(BODY_FIELDS), around=garnish, event_id=st.from_regex(r"\Aevt_[a-z0-9]{1,20}\Z"))
    def run(field, around, event_id):
        payload = {
            "event_id": event_id,
            "transaction_id": charge.transaction_id,
            "status": "succeeded",
            "amount": "2900.00",
        }
        payload[field] = _garnished(payload[field], around)
        body = json.dumps(payload).encode()
        response = _post(client, body, {HEADER: signature_header(body)})
        _assert_unchanged_and_answered(response, before, allowed=(400,))
        assert response.json()["reason"] == "malformed_body"

    run()
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING
    assert_ledger(charge.rental)


def test_signature_header_parts_with_junk_around_them_are_400_and_pay_nothing(client, open_charges, assert_ledger):
    charge = open_charges[0]
    before = ledger_snapshot()

    @settings(max_examples=300)
    @given(part=st.sampled_from(["t", "v1", "whole", "key"]), around=garnish)
    def run(part, around):
        body = json.dumps(
            {"event_id": "evt_ws", "transaction_id": charge.transaction_id, "status": "succeeded", "amount": "2900.00"}
        ).encode()
        t = str(int(time.time()))
        digest = compute_signature(t, body)
        if part == "t":
            header = f"t={_garnished(t, around)},v1={digest}"
        elif part == "v1":
            header = f"t={t},v1={_garnished(digest, around)}"
        elif part == "key":
            header = f"{_garnished('t', around)}={t},{_garnished('v1', around)}={digest}"
        else:
            header = f"{around[0]}t={t}{around[1]},{around[0]}v1={digest}{around[1]}"
        try:
            response = _post(client, body, {HEADER: header})
        except Exception as exc:  # the test client itself refuses some header bytes
            assert "\n" in header or "\r" in header or "\x00" in header, exc
            return
        _assert_unchanged_and_answered(response, before, allowed=(400,))

    run()
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING
    assert_ledger(charge.rental)


def test_a_failure_reason_with_junk_around_it_is_stored_clean(client, customer, assert_ledger):
    """``failure_reason`` is free text that is only shown: controls are dropped
    and the rest trimmed, and a failure never pays anything."""

    @settings(max_examples=60)
    @given(around=garnish, reason=st.text(alphabet=st.characters(categories=("L", "N")), min_size=1, max_size=20))
    def run(around, reason):
        # A fresh open charge per example (the previous one has failed).
        rental = RentalFactory(customer=customer)
        charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
        payload = {
            "event_id": f"evt_{charge.pk}",
            "transaction_id": charge.transaction_id,
            "status": "failed",
            "amount": str(charge.amount),
            "failure_reason": _garnished(reason, around),
        }
        body = json.dumps(payload).encode()
        response = _post(client, body, {HEADER: signature_header(body)})
        assert response.status_code == 200, response.content
        charge.refresh_from_db()
        assert charge.status == Payment.Status.FAILED
        assert charge.failure_reason == "".join(ch for ch in _garnished(reason, around) if ch.isprintable()).strip()
        assert all(ch.isprintable() for ch in charge.failure_reason)
        assert_ledger(charge.rental)

    run()
    assert not Payment.objects.filter(status=Payment.Status.PAID).exists()
