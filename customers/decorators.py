"""Access to the customer pages."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from customers.models import Customer


def customer_required(view):
    """Signed-in users with a Customer profile only: anonymous users go to the
    login page with ``?next=``; a login without a profile (staff) gets 403.
    Sets ``request.customer``."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            # loaded with the user by accounts.backends.CustomerModelBackend
            request.customer = request.user.customer
        except Customer.DoesNotExist:
            raise PermissionDenied(_("These pages are for customers; staff work in the admin.")) from None
        return view(request, *args, **kwargs)

    return wrapper
