"""Sign-in backend of the site."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce

from car_rental_system.compiled_queries import CompiledQuery


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


def _session_user(pk):
    return (
        get_user_model()
        ._default_manager.select_related("customer")
        .annotate(unread_notification_count=_unread_count())
        .filter(pk=pk)
    )


SESSION_USER = CompiledQuery(_session_user)


class CustomerModelBackend(ModelBackend):
    """Django's username-and-password backend, whose user of a session comes
    with its customer profile in the same query (a LEFT JOIN: staff have
    none), so ``customer_required`` needs no query of its own, and with the
    count of its unread notifications (a subquery of the same statement,
    ``unread_notification_count``), read on every request, so never stale.
    The statement is compiled once per database connection."""

    def get_user(self, user_id):
        try:
            pk = get_user_model()._meta.pk.to_python(user_id)
        except Exception:  # a session of another site's ids
            return None
        found = SESSION_USER.fetch(pk)  # compiled once per connection
        if not found:
            return None
        return found[0] if self.user_can_authenticate(found[0]) else None
