"""Domain errors of the payment flows; ``ValidationError`` subclasses so that a
person can read ``error.messages`` (SPEC §8)."""

from django.core.exceptions import ValidationError


class PaymentError(ValidationError):
    """A payment rule was broken; nothing was changed."""


class InvalidPaymentTransition(PaymentError):
    """The payment's status does not allow the requested move."""


class NotPayable(PaymentError):
    """The order can't take a payment now (status, nothing owed, not the owner)."""


class AmountChanged(PaymentError):
    """The amount the customer saw is no longer what is owed."""


class RefundError(PaymentError):
    """A refund would break a rule (e.g. exceed the net paid)."""
