"""A customer's review of a completed rental."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Review
from rentals.locks import lock_rental
from rentals.models import Rental


@transaction.atomic
def create_review(*, rental: Rental, rating: int, comment: str = "", by_user: Any = None) -> Any:
    """One review per completed rental, by its customer. Locks: rental (so two
    submits of the same form can't both pass the "no review yet" check)."""
    locked = lock_rental(rental.pk)
    if by_user is not None and locked.customer.user_id != by_user.pk:
        raise ValidationError(_("You can only review your own orders."), code="not_owner")
    if locked.status != Rental.Status.COMPLETED:
        raise ValidationError(_("You can review an order once the car has been returned."), code="not_completed")
    if Review.objects.filter(rental=locked).exists():
        raise ValidationError(_("You have already reviewed this order."), code="already_reviewed")
    try:
        rating = int(rating)
    except (TypeError, ValueError):
        rating = 0
    if not 1 <= rating <= 5:
        raise ValidationError(_("Please give a rating from 1 to 5."), code="bad_rating")
    return Review.objects.create(rental=locked, rating=rating, comment=(comment or "").strip())
