"""Admin for the ledger and its audit trail: strictly read-only.

No admin path adds, changes or deletes a Payment, PaymentEvent or
CallbackReceipt; money moves only through the staff pages on a rental
(``rentals/admin_views.py``), which call the services. The finance dashboard
and the CSV export hang off the Payment admin's URLs.
"""

from accounts.admin.holds import DepositHoldAdmin, HoldReleaseAdmin, TrafficFineAdmin  # noqa: F401
from accounts.admin.invoices import InvoiceRequestAdmin  # noqa: F401
from accounts.admin.payments import (  # noqa: F401
    PAYMENT_EVENT_LABELS,
    CallbackReceiptAdmin,
    NotificationAdmin,
    PaymentAdmin,
    PaymentEventAdmin,
    PaymentEventFilter,
    PaymentEventInline,
    ReadOnlyAdmin,
    ReviewAdmin,
    rental_link,
)
from accounts.admin.reconciliation import (  # noqa: F401
    DiscrepancyAdmin,
    DiscrepancyColumns,
    DiscrepancyInline,
    DiscrepancyStateFilter,
    ReconciliationRunAdmin,
    _optional_money,
)
