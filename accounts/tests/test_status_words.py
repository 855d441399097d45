"""Status codes reach people through their labels: a refused payment move
names the statuses in the reader's language, never PAID or FAILED."""

import pytest
from django.utils import translation

from accounts.exceptions import InvalidPaymentTransition
from accounts.services.ledger import transition_payment
from accounts.tests.factories import PaymentFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "words"),
    [("zh-hans", "无法从“已支付”变为“失败”"), ("en", "cannot go from Paid to Failed")],
)
def test_a_refused_payment_move_names_the_statuses_by_their_labels(language, words):
    payment = PaymentFactory(status="PAID")

    with translation.override(language), pytest.raises(InvalidPaymentTransition) as refused:
        transition_payment(payment=payment, to_status="FAILED")

    assert words in refused.value.messages[0]
    assert "PAID" not in refused.value.messages[0] and "FAILED" not in refused.value.messages[0]
