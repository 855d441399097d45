"""Writes to the payment ledger, its audit trail and notifications.

Every function here that changes money runs in ``transaction.atomic`` with the
rental row locked before any amount is read (lock order: customer → vehicle →
rental → payment, see ``rentals/locks.py``), writes its audit row in the same
transaction, and leaves the rental's stored figures equal to the ledger.
"""

from accounts.services.abnormal_refunds import (  # noqa: F401
    _refund_abnormal,
    request_abnormal_refund_resolution,
    send_abnormal_refund,
)
from accounts.services.callbacks import (  # noqa: F401
    _apply_callback,
    _callback_verdict,
    _charge_failed,
    _charge_succeeded,
    _reject,
    _safe_text,
    handle_callback,
)
from accounts.services.charges import (  # noqa: F401
    ONLINE_METHODS,
    _assert_payable,
    _close_stale_charge,
    _open_charge_for,
    expire_stale_payments,
    payment_redirect_url,
    start_payment,
)
from accounts.services.closing import close_at_provider  # noqa: F401
from accounts.services.counter import (  # noqa: F401
    COUNTER_METHODS,
    record_counter_payment,
    record_manual_refund,
)
from accounts.services.ledger import (  # noqa: F401
    _require_staff,
    cancel_open_charges,
    close_open_charge,
    finish_closing,
    new_transaction_id,
    record_payment_event,
    transition_payment,
)
from accounts.services.notices import (  # noqa: F401
    build_notice,
    mark_all_notifications_read,
    mark_notification_read,
    notify,
    payment_note,
    refund_notice,
)
from accounts.services.provider_refunds import (  # noqa: F401
    apply_refund_start,
    retry_failed_refund,
    send_refund,
)
from accounts.services.refunds import (  # noqa: F401
    DueRefund,
    RefundPlan,
    _refund_confirmed,
    _refund_failed,
    build_refund_rows,
    enqueue_refund,
    issue_refund,
    plan_due_refund,
    refund_amount_due,
    refund_description,
    refund_due_rows,
    refund_provider_for,
    save_refund_rows,
)
from accounts.services.sync import (  # noqa: F401
    SYNC_AFTER_MINUTES,
    SyncLine,
    _query_event,
    _sync_one,
    sync_payments,
)
