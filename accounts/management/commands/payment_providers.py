"""``python manage.py payment_providers``: where each payment method goes and
how each provider is configured (SPEC §13), for ops. Prints key fingerprints,
never a secret. A method whose provider can't be used now is not offered on
the pay page."""

from django.core.management.base import BaseCommand

from accounts import providers, selectors


class Command(BaseCommand):
    help = "Show which provider each payment method goes to and each provider's configuration (no secrets)."

    def handle(self, *args, **options):
        self.stdout.write("Methods:")
        for method in selectors.ONLINE_METHODS:
            try:
                adapter = providers.provider_for_method(method)
            except providers.ProviderError as exc:
                self.stdout.write(f"  {method:<7} → ? ({exc.reason}: {exc.detail})")
                continue
            usable = adapter.is_usable()
            self.stdout.write(f"  {method:<7} → {adapter.name} ({'usable' if usable else 'NOT usable: not offered'})")
        self.stdout.write("Providers:")
        for name in providers.PROVIDERS:
            adapter = providers.get_provider(name)
            self.stdout.write(f"  {name}: {'usable' if adapter.is_usable() else 'not usable'}")
            for key, value in adapter.describe().items():
                if key != "provider":
                    self.stdout.write(f"    {key}: {value}")
