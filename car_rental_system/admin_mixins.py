"""Admin building blocks shared by the apps."""

from typing import Any

from django.http import HttpRequest


class NoAddOrDeleteMixin:
    """Nobody adds or deletes these rows in the admin, superusers included:
    the services write them; staff may at most annotate them."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyPermissionsMixin(NoAddOrDeleteMixin):
    """Nobody adds, changes or deletes these rows in the admin, superusers
    included: they are written by the services only. Staff with the view
    permission see them read-only. For ModelAdmin and inline classes alike."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
