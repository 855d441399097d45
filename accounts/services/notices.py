"""What the customer is told about money: notifications, their payment notes, refund notices, read marks."""

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from accounts.models import Notification
from accounts.wording import Words, notice_in_default_language
from rentals.models import Rental

logger = logging.getLogger(__name__)


def notify(
    *,
    user: Any,
    notification_type: str,
    kind: str = "",
    params: dict | None = None,
    title: str = "",
    message: str = "",
    rental: Rental | None = None,
) -> Notification | None:
    """Write an in-app notification; customers without a login get none.

    ``kind`` and ``params`` say what happened (``accounts.wording``): pages
    show it in the reader's language, and ``title``/``message`` are stored in
    the default language. Without a kind the given title and message are
    stored and shown as they are."""
    if user is None:
        return None
    params = params or {}
    if kind:
        title, message = notice_in_default_language(kind, params)
    return Notification.objects.create(
        user=user,
        rental=rental,
        notification_type=notification_type,
        kind=kind,
        params=params,
        title=title,
        message=message,
    )


def build_notice(
    *, user_id: int, rental_id: int | None, notification_type: str, kind: str, params: dict, now: datetime
) -> Notification:
    """The notice ``notify`` writes, unsaved, for writers that insert many at
    once: stored with its kind and params (shown in the reader's language)
    and its words in the default language."""
    title, message = notice_in_default_language(kind, params)
    return Notification(
        user_id=user_id,
        rental_id=rental_id,
        notification_type=notification_type,
        kind=kind,
        params=params,
        title=title,
        message=message,
        created_at=now,
    )


def payment_note(words: Words) -> dict:
    """The Payment fields of a note: its code and params, and its words in the default language."""
    return {
        "description": words.in_default_language()[:255],
        "description_code": words.code,
        "description_params": words.params,
    }


def refund_notice(
    *,
    user_id: int,
    rental_id: int,
    amount: Decimal,
    method: str,
    description: str,
    code: str = "",
    params: dict | None = None,
    now: datetime,
) -> Notification:
    """The REFUND_ISSUED notice (unsaved), sent when the money has gone back:
    stored as what happened (kind and params) and rendered in the reader's
    language; ``code``/``params`` are the refund's note, ``description`` its
    words in the default language."""
    params = {
        "order": rental_id,
        "amount": str(amount),
        "method": method,
        "code": code,
        "params": params or {},
        "description": description,
    }
    title, message = notice_in_default_language("refund_issued", params)
    return Notification(
        user_id=user_id,
        rental_id=rental_id,
        notification_type=Notification.Type.REFUND_ISSUED,
        kind="refund_issued",
        params=params,
        title=title,
        message=message,
        created_at=now,
    )


def mark_notification_read(*, notification: Notification) -> bool:
    """Mark one notification read; returns whether it changed."""
    if notification.is_read:
        return False
    return bool(Notification.objects.filter(pk=notification.pk, is_read=False).update(is_read=True))


def mark_all_notifications_read(*, user: Any) -> int:
    """Mark every unread notification of ``user`` read; returns how many."""
    return Notification.objects.filter(user=user, is_read=False).update(is_read=True)
