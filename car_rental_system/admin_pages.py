"""Staff pages of our own inside the Django admin: a view served at a route
of a ModelAdmin, behind the admin's login and CSRF, and handed its
``model_admin`` (for the admin's context and permissions)."""

from functools import update_wrapper

from django.urls import path


def staff_page(model_admin, route: str, view, name: str):
    """The URL pattern of ``view`` at ``route`` under ``model_admin``, named
    ``<app>_<model>_<name>`` as the admin names its own pages."""

    def wrapper(*args, **kwargs):
        return model_admin.admin_site.admin_view(view)(*args, model_admin=model_admin, **kwargs)

    update_wrapper(wrapper, view)
    return path(route, wrapper, name=f"{model_admin.opts.app_label}_{model_admin.opts.model_name}_{name}")
