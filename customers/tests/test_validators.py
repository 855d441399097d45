"""Mainland resident ID and mobile number checks (customers.validators)."""

import pytest
import time_machine
from django.core.exceptions import ValidationError

from customers.validators import (
    id_card_check_char,
    normalize_id_card_number,
    normalize_mobile_number,
    validate_id_card_number,
    validate_mobile_number,
)


@pytest.mark.parametrize(
    "number",
    [
        "11010519491231002X",  # the GB 11643-1999 example, check character X
        "440524198001010013",
        "310101199001011234",
        "11010119900307803X",
    ],
)
def test_real_format_id_numbers_with_the_right_check_character_pass(number):
    validate_id_card_number(number)


def test_the_check_character_is_iso_7064_mod_11_2():
    assert id_card_check_char("11010519491231002") == "X"
    assert id_card_check_char("44052419800101001") == "3"
    assert id_card_check_char("31010119900101123") == "4"


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("123", "id_card_format"),
        ("11010519491231002", "id_card_format"),  # 17 characters
        ("1101051949123100212", "id_card_format"),  # 19 characters
        ("11010519491231002Y", "id_card_format"),
        ("X10105194912310021", "id_card_format"),
        ("110105194912310021", "id_card_check_digit"),  # X expected
        ("440524198001010014", "id_card_check_digit"),  # 3 expected
        ("310101199001011235", "id_card_check_digit"),  # 4 expected
        ("110105194902300027", "id_card_birth_date"),  # 30 February
        ("110105189912310024", "id_card_birth_date"),  # born 1899
        ("110105194913010027", "id_card_birth_date"),  # month 13
    ],
)
def test_bad_id_numbers_are_refused_with_a_reason(number, code):
    with pytest.raises(ValidationError) as caught:
        validate_id_card_number(number)
    assert caught.value.code == code


@time_machine.travel("2026-11-29 12:00 +0800", tick=False)
def test_a_birth_date_in_the_future_is_refused():
    future = "11010520270101" + "001"
    with pytest.raises(ValidationError) as caught:
        validate_id_card_number(future + id_card_check_char(future))
    assert caught.value.code == "id_card_birth_date"
    today = "11010520261129" + "001"
    validate_id_card_number(today + id_card_check_char(today))


def test_id_numbers_are_normalised_before_checking():
    assert normalize_id_card_number(" 110105 19491231 002x ") == "11010519491231002X"
    validate_id_card_number(normalize_id_card_number("11010519491231002x"))


@pytest.mark.parametrize("number", ["13912345678", "15000000000", "19912345678", "16600001111"])
def test_mainland_mobile_numbers_pass(number):
    validate_mobile_number(number)


@pytest.mark.parametrize(
    "number",
    ["12345678901", "10912345678", "1391234567", "139123456789", "23912345678", "+8613912345678", "1391234567a"],
)
def test_other_phone_numbers_are_refused(number):
    with pytest.raises(ValidationError) as caught:
        validate_mobile_number(number)
    assert caught.value.code == "mobile_format"


def test_mobile_numbers_are_normalised_before_checking():
    assert normalize_mobile_number("139 1234 5678") == "13912345678"
