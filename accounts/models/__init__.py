"""The models of accounts: the payment ledger, deposit holds, notices and reviews, reconciliation, invoice requests."""

from accounts.models.holds import (  # noqa: F401
    DepositHold,
    HoldRelease,
    TakeReason,
    TrafficFine,
)
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
