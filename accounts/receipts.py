"""PDF receipts of an order (SPEC §20).

A receipt is rendered on request, in the reader's language, and never
stored. It shows what the order page shows, read the same way: the fees from
``Rental.get_order_amount_breakdown``, the figures and the settlement from
``accounts.figures`` (through ``selectors.order_row`` and
``get_payment_summary``), and every charge and refund of the ledger with its
method, transaction id, status and time. The PDF is made by WeasyPrint with
the Noto CJK fonts, so its text (Chinese and English) can be extracted.
"""

from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from accounts import selectors
from accounts.models import Payment
from rentals.models import Rental

MISSING_LIBRARY = (
    "PDF receipts need WeasyPrint and the Pango library (Debian: libpango-1.0-0 libpangoft2-1.0-0) "
    "with the Noto CJK fonts (fonts-noto-cjk); `make run` and `make test` install them when run as root."
)


class ReceiptUnavailable(Exception):
    """WeasyPrint or the system library it needs (Pango) cannot be loaded."""


def load_weasyprint() -> Any:
    """The ``weasyprint`` module, or ``ReceiptUnavailable`` when it or Pango is missing."""
    try:
        import weasyprint
    except (ImportError, OSError) as error:  # OSError: cffi could not open libpango
        raise ReceiptUnavailable(f"{MISSING_LIBRARY} ({error})") from error
    return weasyprint


def receipt_rentals() -> QuerySet:
    """Rentals with what a receipt reads loaded: car, stores, customer and
    the ledger in its order (staff's receipts; the customer's are scoped by
    ``selectors.customer_rentals``, which loads the same)."""
    return Rental.objects.select_related(
        "customer", "vehicle", "pickup_location", "return_location", "actual_return_location"
    ).prefetch_related(Prefetch("payments", queryset=Payment.objects.order_by("created_at", "id")))


def receipt_context(*, rental: Rental) -> dict[str, Any]:
    """What the receipt shows: the order page's row and payment summary, the
    settlement status of the figures, the company and the moment printed."""
    row = selectors.order_row(rental=rental)
    settlement = row.figures.settlement_status
    return {
        "rental": rental,
        "row": row,
        "summary": selectors.get_payment_summary(rental=rental),
        "settlement": settlement,
        "settlement_label": Rental.SettlementStatus(settlement).label,
        "company_name": settings.COMPANY_NAME,
        "company_address": settings.COMPANY_ADDRESS,
        "printed_at": timezone.now(),
        "language": get_language(),
    }


def render_receipt(*, rental: Rental) -> bytes:
    """The receipt of ``rental`` as PDF bytes, in the active language."""
    weasyprint = load_weasyprint()
    html = render_to_string("accounts/receipt.html", receipt_context(rental=rental))
    return weasyprint.HTML(string=html).write_pdf()


def receipt_filename(rental: Rental) -> str:
    return f"receipt-{rental.pk}.pdf"


def receipt_response(*, rental: Rental) -> HttpResponse:
    """The receipt as an inline PDF (private, never cached), or a 503 that
    says what to install when WeasyPrint cannot run here."""
    try:
        pdf = render_receipt(rental=rental)
    except ReceiptUnavailable as error:
        text = _("Receipts can't be printed on this server at the moment; please try again later.")
        return HttpResponse(f"{text}\n\n{error}", status=503, content_type="text/plain; charset=utf-8")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{receipt_filename(rental)}"'
    response["Cache-Control"] = "private, no-store"
    return response
