"""The words of notices and ledger notes, in the reader's language.

A notification stores what happened as a ``kind`` code and JSON ``params``; a
payment stores its note as a ``description_code`` and ``description_params``.
The functions here turn them into words in the active language when a page
shows them, so a notice written while the customer read English reads in
Chinese once they switch. The stored ``title``/``message``/``description``
hold the same words in the site's default language (for the admin, the
provider and rows written before the codes existed, which are shown as
stored).

Params hold only language-neutral values: amounts as decimal strings, times
as ISO 8601, payment methods as their codes, order numbers, and text typed
by a person (a reason), which is shown as typed.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from car_rental_system.money import ZERO, format_cny


def sentence_separator() -> str:
    """What stands between two sentences: nothing in Chinese, a space in English."""
    return "" if (translation.get_language() or "").startswith("zh") else " "


def join_sentences(*sentences: str) -> str:
    """Sentences one after the other, set as the reader's language sets them."""
    return sentence_separator().join(sentence for sentence in sentences if sentence)


def _money(value) -> str:
    return format_cny(Decimal(str(value)))


def _when(value: str) -> str:
    return date_format(timezone.localtime(datetime.fromisoformat(value)), "Y-m-d H:i")


def _method(code: str) -> str:
    from accounts.models import Payment

    try:
        return str(Payment.Method(code).label)
    except ValueError:
        return code


# --- ledger notes -------------------------------------------------------------------


def _deposit_refund(params: dict) -> str:
    fees = []
    if Decimal(params.get("overdue_fee", "0")) > ZERO:
        fees.append(_("overdue fee %(amount)s") % {"amount": _money(params["overdue_fee"])})
    if Decimal(params.get("cross_location_fee", "0")) > ZERO:
        fees.append(_("one-way fee %(amount)s") % {"amount": _money(params["cross_location_fee"])})
    if Decimal(params.get("damage_fee", "0")) > ZERO:
        fees.append(_("damage fee %(amount)s") % {"amount": _money(params["damage_fee"])})
    if fees:
        return _("Deposit refund, less %(fees)s") % {"fees": pgettext("between the items of a list", ", ").join(fees)}
    return _("Deposit refund")


DESCRIPTIONS = {
    "order": lambda p: _("Order #%(order)s") % {"order": p["order"]},
    "online_payment": lambda p: _("Online payment"),
    "counter_payment": lambda p: _("Paid at the counter"),
    "manual_refund": lambda p: _("Manual refund: %(reason)s") % {"reason": p["reason"]},
    "refund_cancellation": lambda p: _("Refund on cancellation: %(reason)s") % {"reason": p["reason"]},
    "refund_late_payment": lambda p: _("Refund of a payment the order could no longer use"),
    "refund_repriced": lambda p: _("Refund of the one-way fee dropped at hand-over"),
    "refund_deposit": _deposit_refund,
}


@dataclass(frozen=True)
class Words:
    """A ledger note as code and params; ``str()`` renders it in the active language."""

    code: str
    params: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return description_text(self.code, self.params)

    def in_default_language(self) -> str:
        with translation.override(settings.LANGUAGE_CODE):
            return str(self)


def _rendered(renderers: dict, key: str, params: dict, stored):
    """``renderers[key](params)``; ``stored`` when the key is unknown or its
    params don't fit (a row written by an older release)."""
    render = renderers.get(key)
    if render is None:
        return stored
    try:
        return render(params or {})
    except (KeyError, ValueError, ArithmeticError):
        return stored


def description_text(code: str, params: dict, stored: str = "") -> str:
    """A payment's note in the active language; ``stored`` when the code is unknown."""
    return _rendered(DESCRIPTIONS, code, params, stored)


# --- failure reasons ---------------------------------------------------------------
#
# A provider's own words for a failure (``Payment.failure_reason``: "The
# sandbox refused the refund", "余额不足", a WeChat trade_state_desc) stay on the
# row for staff. Customers read the reason by its code, from the row's type
# and status, in their language: a clause without its full stop, so the
# sentence around it ends it once.

FAILURE_REASONS = {
    "charge_declined": lambda: _("the payment provider declined the payment"),
    "charge_cancelled": lambda: _("the payment was cancelled"),
    "charge_expired": lambda: _("the time to pay ran out"),
    "refund_refused": lambda: _("the payment provider refused the refund"),
}


def failure_code(transaction_type: str, status: str) -> str:
    """The code of a failed charge or refund ("" for a row that did not fail)."""
    if transaction_type == "REFUND":
        return "refund_refused" if status == "FAILED" else ""
    return {"FAILED": "charge_declined", "CANCELLED": "charge_cancelled", "EXPIRED": "charge_expired"}.get(status, "")


def customer_failure_reason(code: str) -> str:
    """The customer's words for a failure code, in the active language ("" when unknown)."""
    words = FAILURE_REASONS.get(code)
    return str(words()) if words else ""


def _clause(text: str) -> str:
    """Text put inside a sentence of ours: without its own closing full stop."""
    return text.strip().rstrip("。.")


# --- notices ------------------------------------------------------------------------


def _cancelled(p: dict) -> tuple[str, str]:
    message = _("Reason: %(reason)s.") % {"reason": _clause(p["reason"])}
    if Decimal(p.get("fee", "0")) > ZERO:
        message = join_sentences(
            message, _("A cancellation fee of %(fee)s is kept from what was paid.") % {"fee": _money(p["fee"])}
        )
    if Decimal(p.get("refunded", "0")) > ZERO:
        message = join_sentences(message, _("%(amount)s will be refunded.") % {"amount": _money(p["refunded"])})
    if Decimal(p.get("manual", "0")) > ZERO:
        message = join_sentences(
            message,
            _("%(amount)s will be handed back to you at the %(store)s counter.")
            % {"amount": _money(p["manual"]), "store": p.get("store", "")},
        )
    return _("Order #%(order)s cancelled") % {"order": p["order"]}, message


def _returned(p: dict) -> tuple[str, str]:
    message = _("Thank you for driving with us.")
    if Decimal(p.get("early_return_fee", "0")) > ZERO:
        message = join_sentences(
            message,
            _(
                "Back early: the rent is now %(rent)s for the days used, plus an early-return fee of %(fee)s; "
                "the rest of what you paid comes back to you."
            )
            % {"rent": _money(p["rent"]), "fee": _money(p["early_return_fee"])},
        )
    if Decimal(p.get("damage_fee", "0")) > ZERO:
        damage = _("A damage fee of %(fee)s was charged.") % {"fee": _money(p["damage_fee"])}
        if p.get("note"):
            damage = _("A damage fee of %(fee)s was charged: %(note)s.") % {
                "fee": _money(p["damage_fee"]),
                "note": p["note"].strip().rstrip("。.！!"),
            }
        message = join_sentences(message, damage)
    if Decimal(p.get("remaining", "0")) > ZERO:
        message = join_sentences(
            message,
            _("%(amount)s is still to be paid for fees found at return.") % {"amount": _money(p["remaining"])},
        )
    return _("Order #%(order)s returned") % {"order": p["order"]}, message


def _payment_failed(p: dict) -> tuple[str, str]:
    # ``reason`` holds the provider's words (for staff); the customer reads the outcome's.
    reason = customer_failure_reason("charge_cancelled" if p.get("outcome") == "cancelled" else "charge_declined")
    return (
        _("Payment for order #%(order)s did not go through") % {"order": p["order"]},
        _("Reason: %(reason)s. You can pay again from the order page.") % {"reason": reason},
    )


def _refund_issued(p: dict) -> tuple[str, str]:
    note = description_text(p.get("code", ""), p.get("params") or {}, stored=p.get("description", ""))
    return (
        _("Refund of %(amount)s issued") % {"amount": _money(p["amount"])},
        _("Order #%(order)s: %(description)s. The money goes back to your %(method)s.")
        % {"order": p["order"], "description": _clause(note), "method": _method(p["method"])},
    )


def _refund_delayed(p: dict) -> tuple[str, str]:
    return (
        _("Refund of %(amount)s delayed") % {"amount": _money(p["amount"])},
        _(
            "Order #%(order)s: the refund of %(amount)s to your %(method)s did not go through. Our staff will "
            "contact you to refund it again, or you can collect it at the store counter."
        )
        % {"order": p["order"], "amount": _money(p["amount"]), "method": _method(p["method"])},
    )


def _extended(p: dict) -> tuple[str, str]:
    message = _("The car is now due back at %(end)s.") % {"end": _when(p["end"])}
    if Decimal(p.get("remaining", "0")) > ZERO:
        message += " " + _("The extra rent is %(difference)s; %(amount)s remains to pay from the order page.") % {
            "difference": _money(p["difference"]),
            "amount": _money(p["remaining"]),
        }
    return _("Order #%(order)s extended") % {"order": p["order"]}, message


NOTICES = {
    "payment_received": lambda p: (
        _("Payment of %(amount)s received") % {"amount": _money(p["amount"])},
        _("Order #%(order)s: thank you, your %(method)s payment went through.")
        % {"order": p["order"], "method": _method(p["method"])},
    ),
    "counter_payment_received": lambda p: (
        _("Payment of %(amount)s received") % {"amount": _money(p["amount"])},
        _("Order #%(order)s was paid at the counter.") % {"order": p["order"]},
    ),
    "payment_failed": _payment_failed,
    "refund_issued": _refund_issued,
    "refund_delayed": _refund_delayed,
    "rental_overdue": lambda p: (
        _("Order #%(order)s is overdue") % {"order": p["order"]},
        _("The car was due back at %(end)s. Late returns are charged per started day.") % {"end": _when(p["end"])},
    ),
    "lapsed": lambda p: (
        _("Order #%(order)s cancelled: not paid in time") % {"order": p["order"]},
        _(
            "The booking was held until %(deadline)s and nothing had been paid by then, so the car was "
            "released. You are welcome to book again."
        )
        % {"deadline": _when(p["deadline"])},
    ),
    "cancelled": _cancelled,
    "returned": _returned,
    "invoice_issued": lambda p: (
        _("Invoice for order #%(order)s issued") % {"order": p["order"]},
        _("Your e-invoice %(number)s for %(amount)s has been issued and sent to %(email)s.")
        % {"number": p["number"], "amount": _money(p["amount"]), "email": p["email"]},
    ),
    "invoice_rejected": lambda p: (
        _("Invoice request for order #%(order)s rejected") % {"order": p["order"]},
        _("Reason: %(reason)s. You can correct the request and send it again from the order page.")
        % {"reason": p["reason"]},
    ),
    "extended": _extended,
}


def notice_text(kind: str, params: dict, stored: tuple[str, str] = ("", "")) -> tuple[str, str]:
    """``(title, message)`` of a notice in the active language; ``stored`` when the kind is unknown."""
    return _rendered(NOTICES, kind, params, stored)


def notice_in_default_language(kind: str, params: dict) -> tuple[str, str]:
    with translation.override(settings.LANGUAGE_CODE):
        return notice_text(kind, params)


# --- rules told before booking ------------------------------------------------------


def late_fee_rule_text(daily_rate: Decimal) -> str:
    """The late-fee rule (SPEC §4) in words, with a car's fee of one started late day."""
    from rentals import pricing

    rule = pricing.late_fee_rule(daily_rate)
    if rule.grace_minutes % 60 == 0:
        hours = rule.grace_minutes // 60
        grace = ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    else:
        grace = ngettext("%(count)d minute", "%(count)d minutes", rule.grace_minutes) % {"count": rule.grace_minutes}
    return _(
        "Late return: free within %(grace)s after the return time; after that, %(rate)s × the daily rate "
        "(%(fee)s) for every started day, the grace included."
    ) % {"grace": grace, "rate": format(rule.rate.normalize(), "f"), "fee": format_cny(rule.per_day)}
