"""Writes of the customers app: sign-up (a login and its profile together)."""

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)


@transaction.atomic
def register_customer(
    *,
    username: str,
    password: str,
    name: str,
    phone: str,
    email: str = "",
    id_card_number: str = "",
    driver_license_number: str = "",
) -> Any:
    """Create a login and its Customer profile (member level REGULAR) together;
    either both exist afterwards or neither. Returns the Customer. A username
    taken in any case, or one the user model's username validator refuses,
    raises ValidationError on ``username``; an ID card number another
    customer holds raises it on ``id_card_number`` (one person, one account).
    The database decides both, so concurrent sign-ups can't both win."""
    from django.contrib.auth import get_user_model

    from customers.models import ID_CARD_TAKEN, Customer
    from customers.validators import normalize_id_card_number, validate_username

    try:
        validate_username(username)
    except ValidationError as error:
        raise ValidationError({"username": error}) from None

    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(username=username, password=password, email=email or "")
    except IntegrityError:
        # The database's unique index on LOWER(username) (SPEC §16 Identity):
        # a concurrent sign-up took this name, in some case, first.
        raise ValidationError(
            {"username": ValidationError(_("This username is already taken."), code="username_taken")}
        ) from None
    try:
        with transaction.atomic():
            return Customer.objects.create(
                user=user,
                name=name,
                phone=phone,
                id_card_number=normalize_id_card_number(id_card_number),
                driver_license_number=driver_license_number or "",
            )
    except IntegrityError:
        # The unique index on the ID card number (SPEC §17 one identity, one
        # account); the outer transaction drops the login created above.
        raise ValidationError({"id_card_number": ValidationError(ID_CARD_TAKEN, code="id_card_taken")}) from None


@transaction.atomic
def walk_in_customer(*, name: str, phone: str, id_card_number: str, driver_license_number: str) -> Any:
    """The customer holding ``id_card_number``, or a new Customer without a
    login created by counter staff for a walk-in (SPEC §20), member level
    REGULAR. The database decides: when another clerk adds the same person at
    the same moment, the unique index refuses the second row and both get the
    one customer."""
    from customers.models import Customer
    from customers.validators import normalize_id_card_number

    number = normalize_id_card_number(id_card_number)
    found = Customer.objects.filter(id_card_number=number).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Customer.objects.create(
                user=None, name=name, phone=phone, id_card_number=number, driver_license_number=driver_license_number
            )
    except IntegrityError:
        return Customer.objects.get(id_card_number=number)
