"""``python manage.py payment_providers``: where each payment method goes and
how each provider is configured (SPEC §13), for ops. Prints key fingerprints,
never a secret. A method whose provider can't be used now is not offered on
the pay page. Words in the active language; method codes, provider names and
setting names as they are configured."""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from accounts import providers, selectors


class Command(BaseCommand):
    help = "Show which provider each payment method goes to and each provider's configuration (no secrets)."

    def handle(self, *args, **options):
        self.stdout.write(_("Methods:"))
        for method in selectors.ONLINE_METHODS:
            try:
                adapter = providers.provider_for_method(method)
            except providers.ProviderError as exc:
                self.stdout.write(f"  {method:<7} → ? ({exc.reason}: {exc.detail})")
                continue
            state = _("usable") if adapter.is_usable() else _("not usable: not offered")
            self.stdout.write(
                "  "
                + _("%(method)s → %(provider)s (%(state)s)")
                % {"method": f"{method:<7}", "provider": adapter.name, "state": state}
            )
        self.stdout.write(_("Providers:"))
        for name in providers.PROVIDERS:
            adapter = providers.get_provider(name)
            state = _("usable") if adapter.is_usable() else _("not usable")
            self.stdout.write(f"  {name}: {state}")
            for key, value in adapter.describe().items():
                if key != "provider":
                    self.stdout.write(f"    {key}: {value}")
