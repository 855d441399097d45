"""Checks for the identity numbers customers type in (mainland China).

- Resident ID card (GB 11643-1999): 18 characters, 17 digits then a check
  character 0-9 or X computed with ISO 7064 MOD 11-2; characters 7-14 are the
  birth date (YYYYMMDD), which must be a real date not in the future and not
  before 1900.
- Mobile number: 11 digits, starting with 1, second digit 3-9.
- Username: what the user model's own username validator allows (letters,
  digits, @ . + - _), so no name can look like another (an invisible
  character) or carry markup.

Each ``normalize_*`` function returns the canonical form (spaces removed,
check character upper-case) and each ``validate_*`` function raises
``ValidationError`` with a message a person can read.
"""

import re
from datetime import date

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

ID_CARD_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CARD_CHECK_CHARS = "10X98765432"  # indexed by (Σ digit × weight) mod 11
ID_CARD_EARLIEST_BIRTH = date(1900, 1, 1)

_ID_CARD_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_MOBILE_SHAPE = re.compile(r"1[3-9][0-9]{9}")
_SPACES = re.compile(r"\s+")


def normalize_id_card_number(value: str) -> str:
    """Remove spaces and turn a lower-case check character x into X."""
    return _SPACES.sub("", value or "").upper()


def id_card_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_CARD_WEIGHTS, strict=True))
    return ID_CARD_CHECK_CHARS[total % 11]


def validate_id_card_number(value: str) -> None:
    """An 18-character mainland resident ID number (already normalised)."""
    if not _ID_CARD_SHAPE.fullmatch(value):
        raise ValidationError(
            _("An ID card number has 18 characters: 17 digits, then a digit or X."), code="id_card_format"
        )
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        birth = None
    if birth is None or not ID_CARD_EARLIEST_BIRTH <= birth <= timezone.localdate():
        raise ValidationError(
            _("This ID card number does not contain a valid date of birth. Please check it."),
            code="id_card_birth_date",
        )
    if id_card_check_char(value[:17]) != value[17]:
        raise ValidationError(
            _("This ID card number is not valid (its last character does not match). Please check it."),
            code="id_card_check_digit",
        )


def normalize_mobile_number(value: str) -> str:
    """Remove spaces (people type 139 1234 5678)."""
    return _SPACES.sub("", value or "")


def validate_mobile_number(value: str) -> None:
    """An 11-digit mainland mobile number: 1, then 3-9, then nine digits."""
    if not _MOBILE_SHAPE.fullmatch(value):
        raise ValidationError(
            _("Please enter an 11-digit mainland mobile number starting with 13 to 19, e.g. 13912345678."),
            code="mobile_format",
        )


def validate_username(value: str) -> None:
    """The user model's username validator (SPEC §17), with a message that
    also names the invisible characters a pasted name may carry."""
    from django.contrib.auth import get_user_model

    try:
        get_user_model().username_validator(value)
    except ValidationError:
        raise ValidationError(
            _(
                "A username may contain only letters, digits and the characters @ . + - _ "
                "(no spaces, other symbols or invisible characters)."
            ),
            code="invalid_username",
        ) from None
