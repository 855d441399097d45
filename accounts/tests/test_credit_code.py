"""The unified social credit code's GB 32100 check character (accounts/credit_code.py)."""

import pytest
from django.core.exceptions import ValidationError

from accounts.credit_code import CHARSET, check_character, is_valid_credit_code, validate_credit_code

# Published codes: the standard's own example, and companies' codes printed on
# their business licences and websites.
PUBLISHED = [
    "91350100M000100Y43",  # the example of GB 32100-2015
    "914403001922038216",  # 华为技术有限公司
    "91440300708461136T",  # 深圳市腾讯计算机系统有限公司
    "91110108551385082Q",  # 北京小米科技有限责任公司
]


@pytest.mark.parametrize("code", PUBLISHED)
def test_published_codes_are_valid(code):
    assert validate_credit_code(code) == code


def test_the_check_character_is_worked_out_by_the_weights():
    # 9·1 + 1·3 + 1·9 + 1·27 + 1·19 (3^4 mod 31) + … over "91110000100000000":
    # weights 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28
    body = "91110000100000000"
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = sum(CHARSET.index(c) * w for c, w in zip(body, weights, strict=True))
    assert total == 9 + 3 + 9 + 27 + 20  # = 68; 68 mod 31 = 6; 31 − 6 = 25 → "R"
    assert check_character(body) == "R"
    assert is_valid_credit_code(body + "R")


def test_a_sum_divisible_by_31_gives_the_check_character_0():
    body = "9" + "0" * 15 + "3"  # 9·1 + 3·28 (3^16 mod 31) = 93 = 3·31
    assert check_character(body) == "0"
    assert is_valid_credit_code(body + "0")
    assert not is_valid_credit_code(body + "Y")  # 31 is written 0, never as the 31st character


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y44",  # check character off by one
        "91350100M000100Y4A",
        "914403001922038215",
        "91110108551385082R",
        "91110000100000000X",
    ],
)
def test_a_wrong_check_character_is_refused(code):
    with pytest.raises(ValidationError) as error:
        validate_credit_code(code)
    assert error.value.code == "credit_code_check"


@pytest.mark.parametrize("code", ["", "9135010", "91350100M000100Y4", "91350100M000100Y433", "91350100M000100Y43" * 2])
def test_a_wrong_length_is_refused(code):
    with pytest.raises(ValidationError) as error:
        validate_credit_code(code)
    assert error.value.code == "credit_code_length"


@pytest.mark.parametrize("letter", ["I", "O", "S", "V", "Z"])
def test_the_forbidden_letters_are_refused(letter):
    code = "91350100M000100" + letter + "43"
    with pytest.raises(ValidationError) as error:
        validate_credit_code(code)
    assert error.value.code == "credit_code_characters"
    assert letter in error.value.messages[0]


@pytest.mark.parametrize(
    "code", ["91350100M000100Y4-", "91350100M000100Y4é", "91350100M0001 0Y43", "9135010０M000100Y4_"]
)
def test_other_characters_are_refused(code):
    with pytest.raises(ValidationError) as error:
        validate_credit_code(code)
    assert error.value.code == "credit_code_characters"


def test_full_width_characters_are_read_as_ascii():
    assert validate_credit_code("９１３５０１００Ｍ０００１００Ｙ４３") == "91350100M000100Y43"


def test_lower_case_and_surrounding_spaces_are_normalised():
    assert validate_credit_code("  91350100m000100y43 ") == "91350100M000100Y43"
    assert validate_credit_code("91440300708461136t") == "91440300708461136T"


def test_a_lower_case_forbidden_letter_is_still_refused():
    with pytest.raises(ValidationError) as error:
        validate_credit_code("91350100M000100o43")
    assert error.value.code == "credit_code_characters"
