"""Reads of the payment ledger."""

from accounts.refund_rules import (  # noqa: F401  (the ledger's reads, one import for the pages)
    ChargeLeft,
    RefundPart,
    charges_left,
    plan_refund,
    receiver_id,
    refundable_charges,
    refundable_charges_by_rental,
    route_refund,
    split_refund,
)
from accounts.selectors.orders import (  # noqa: F401
    BADGE_LABELS,
    BADGE_OVERDUE,
    BADGE_PAID,
    BADGE_REFUND_IN_PROGRESS,
    BADGE_REFUND_PENDING,
    BADGE_SETTLED,
    BADGE_TO_PAY,
    PAYABLE_STATUSES,
    OrderRow,
    _rentals_by_ids,
    can_pay,
    can_review,
    customer_rentals,
    is_money_movement,
    lapsed_unpaid,
    notifications_for,
    order_row,
    payment_badge,
    remaining_so_far,
    rentals_page,
    unread_notification_count,
)
from accounts.selectors.payments import (  # noqa: F401
    ONLINE_METHODS,
    available_methods,
    get_payment_summary,
    open_charge,
    refund_method,
    refund_recipient,
)
