"""Domain errors of the rental flows.

They subclass Django's ``ValidationError`` so that every caller (forms, views,
admin actions, commands) can show ``error.messages`` to a person, as SPEC §8 asks.
"""

from django.core.exceptions import ValidationError


class RentalError(ValidationError):
    """A rental rule was broken; nothing was changed."""


class InvalidTransition(RentalError):
    """The rental's status does not allow the requested move."""


class BookingConflict(RentalError):
    """The car is already booked for an overlapping period."""
