"""Badges and navbar figures of the customer pages (SPEC §10)."""

from django import template
from django.utils import timezone
from django.utils.html import format_html

from accounts import selectors
from accounts.wording import sentence_separator

register = template.Library()

STATUS_CLASSES = {
    "PENDING": "text-bg-warning",
    "ONGOING": "text-bg-primary",
    "OVERDUE": "text-bg-danger",
    "COMPLETED": "text-bg-success",
    "CANCELLED": "text-bg-secondary",
}

PAYMENT_BADGE_CLASSES = {
    selectors.BADGE_TO_PAY: "text-bg-warning",
    selectors.BADGE_PAID: "text-bg-success",
    selectors.BADGE_REFUND_PENDING: "text-bg-info",
    selectors.BADGE_REFUND_IN_PROGRESS: "text-bg-info",
    selectors.BADGE_SETTLED: "text-bg-secondary",
    selectors.BADGE_OVERDUE: "text-bg-danger",
}


@register.simple_tag
def status_badge(rental):
    """The order status as a coloured badge."""
    return format_html(
        '<span class="badge {}" data-status="{}">{}</span>',
        STATUS_CLASSES.get(rental.status, "text-bg-light"),
        rental.status,
        rental.get_status_display(),
    )


@register.simple_tag
def payment_badge(rental, figures, overdue_so_far=None):
    """The customer's payment badge (To pay / Paid in full / Refund pending /
    Settled, or Overdue with the late fee so far)."""
    key, label = selectors.payment_badge(rental=rental, figures=figures, overdue_so_far=overdue_so_far)
    return format_html(
        '<span class="badge {}" data-payment-badge="{}">{}</span>',
        PAYMENT_BADGE_CLASSES[key],
        key,
        label,
    )


def countdown_clock(seconds: int) -> str:
    """``mm:ss`` (``h:mm:ss`` from an hour on), as static/js/countdown.js writes it."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes:02d}:{seconds:02d}"


@register.inclusion_tag("accounts/_payment_deadline.html")
def payment_deadline_note(rental, now=None):
    """How long an unpaid booking stays reserved and what happens then (SPEC
    §16); the clock is rendered here and kept ticking by static/js/countdown.js."""
    deadline = rental.payment_deadline
    seconds_left = max(0, int((deadline - (now or timezone.now())).total_seconds()))
    return {"deadline": deadline, "seconds_left": seconds_left, "clock": countdown_clock(seconds_left)}


@register.simple_tag(takes_context=True)
def unread_notification_count(context) -> int:
    """Unread notifications of the signed-in user: counted in the user's own
    query (accounts.backends), else one COUNT query, once per render."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    loaded = getattr(user, "unread_notification_count", None)
    if loaded is not None:
        return loaded
    cached = getattr(request, "_unread_notification_count", None)
    if cached is None:
        cached = selectors.unread_notification_count(user=user)
        request._unread_notification_count = cached
    return cached


@register.inclusion_tag("includes/pagination.html", takes_context=True)
def pagination(context, page, label=""):
    """Accessible page links for a Django Page (current page marked
    aria-current, filters of the URL kept); nothing when there is one page."""
    return {
        "request": context.get("request"),
        "page": page,
        "label": label,
        "elided_range": list(page.paginator.get_elided_page_range(page.number, on_each_side=1, on_ends=1)),
        "ellipsis": page.paginator.ELLIPSIS,
    }


@register.simple_tag
def sentence_gap() -> str:
    """What stands between two sentences of a page: nothing in Chinese, a space
    in English (as ``accounts.wording.join_sentences`` joins them)."""
    return sentence_separator()
