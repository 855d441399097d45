"""Sign-in backend of the site."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce


def _unread_count():
    """The user's unread notifications, as a subquery of the user's own query."""
    from accounts.models import Notification

    unread = (
        Notification.objects.filter(user=OuterRef("pk"), is_read=False)
        .order_by()
        .values("user")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(unread, output_field=IntegerField()), 0)


class CustomerModelBackend(ModelBackend):
    """Django's username-and-password backend, whose user of a session comes
    with its customer profile in the same query (a LEFT JOIN: staff have
    none), so ``customer_required`` needs no query of its own, and with the
    count of its unread notifications (a subquery of the same statement,
    ``unread_notification_count``), read on every request, so never stale."""

    def get_user(self, user_id):
        user_model = get_user_model()
        try:
            user = (
                user_model._default_manager.select_related("customer")
                .annotate(unread_notification_count=_unread_count())
                .get(pk=user_id)
            )
        except user_model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
