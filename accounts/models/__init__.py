"""The models of accounts: the payment ledger, notices and reviews, reconciliation, invoice requests."""

from accounts.models.invoices import InvoiceRequest  # noqa: F401
from accounts.models.notifications import (  # noqa: F401
    Notification,
    Review,
)
from accounts.models.payments import (  # noqa: F401
    CallbackReceipt,
    Payment,
    PaymentEvent,
)
from accounts.models.reconciliation import (  # noqa: F401
    Discrepancy,
    ReconciliationRun,
)
