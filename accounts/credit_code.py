"""The unified social credit code (统一社会信用代码, GB 32100-2015).

Eighteen characters over the 31-character set "0123456789ABCDEFGHJKLMNPQRTUWXY"
(no I, O, S, V or Z); the last one is a check character: with the weights
3^i mod 31 of positions 0…16, check = 31 − (Σ value × weight mod 31), and 31
is written 0. Codes are read NFKC-normalised (full-width characters typed
with a Chinese input method become ASCII), in upper case and with surrounding
spaces removed: a code typed in lower case is accepted and stored upper-case
(a lower-case i, o, s, v or z is still refused).
"""

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
LENGTH = 18
WEIGHTS = tuple(pow(3, i, 31) for i in range(LENGTH - 1))
VALUES = {character: value for value, character in enumerate(CHARSET)}


def normalise(code: str) -> str:
    """The code as stored: NFKC-normalised, surrounding spaces removed, upper case."""
    return unicodedata.normalize("NFKC", code or "").strip().upper()


def check_character(body: str) -> str:
    """The check character of the first 17 characters ``body`` (already valid characters)."""
    total = sum(VALUES[character] * weight for character, weight in zip(body, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def validate_credit_code(code: str) -> str:
    """``code`` normalised, or ValidationError saying what is wrong with it."""
    code = normalise(code)
    if len(code) != LENGTH:
        raise ValidationError(
            _("A unified social credit code has 18 characters; this one has %(count)d.") % {"count": len(code)},
            code="credit_code_length",
        )
    wrong = sorted({character for character in code if character not in VALUES})
    if wrong:
        raise ValidationError(
            _("A unified social credit code uses only digits and the letters A–Y without I, O, S, V and Z: %(chars)s")
            % {"chars": " ".join(wrong)},
            code="credit_code_characters",
        )
    if check_character(code[:-1]) != code[-1]:
        raise ValidationError(
            _("This unified social credit code is not valid: its check character (the last one) does not match."),
            code="credit_code_check",
        )
    return code


def is_valid_credit_code(code: str) -> bool:
    try:
        validate_credit_code(code)
    except ValidationError:
        return False
    return True
