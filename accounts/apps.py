from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = _("Payments and accounts")

    def ready(self) -> None:
        from accounts import checks  # noqa: F401  (registers the system checks)
        from car_rental_system.templatetags import cached_translate

        cached_translate.install()  # constant {% translate %}s rendered once per language
