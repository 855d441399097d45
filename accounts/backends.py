"""Sign-in backend of the site."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class CustomerModelBackend(ModelBackend):
    """Django's username-and-password backend, whose user of a session comes
    with its customer profile in the same query (a LEFT JOIN: staff have
    none), so ``customer_required`` needs no query of its own."""

    def get_user(self, user_id):
        user_model = get_user_model()
        try:
            user = user_model._default_manager.select_related("customer").get(pk=user_id)
        except user_model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
