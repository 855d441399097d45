"""System checks of the payment settings (SPEC §16 Production).

With ``DEBUG`` off, ``manage.py check`` (and every management command that
runs the checks) fails when the sandbox provider — whose checkout page
approves whatever is clicked — is in use without being switched on with a
secret of its own: the development secret is published in the README.
"""

from django.conf import settings
from django.core import checks

from accounts.providers import sandbox


@checks.register(checks.Tags.security)
def check_payment_sandbox(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if settings.DEBUG:
        return []
    errors: list[checks.CheckMessage] = []
    enabled = bool(settings.PAYMENT_SANDBOX_ENABLED)
    forced_sandbox = settings.PAYMENT_PROVIDER == sandbox.SandboxProvider.name
    no_real_provider = not (getattr(settings, "ALIPAY_APP_ID", "") or getattr(settings, "WECHATPAY_MCHID", ""))
    if (forced_sandbox or no_real_provider) and not enabled:
        errors.append(
            checks.Error(
                "Payments would go to the payment sandbox (PAYMENT_PROVIDER=sandbox, or neither Alipay nor "
                "WeChat Pay is configured), but the sandbox is switched off with DEBUG=false.",
                hint="Choose a real provider, or set PAYMENT_SANDBOX_ENABLED=true with a PAYMENT_SANDBOX_SECRET "
                "of your own for a test installation.",
                id="accounts.E001",
            )
        )
    if enabled and str(settings.PAYMENT_SANDBOX_SECRET) == sandbox.DEV_SECRET:
        errors.append(
            checks.Error(
                "The payment sandbox is enabled with the public development secret (PAYMENT_SANDBOX_SECRET).",
                hint="Set PAYMENT_SANDBOX_SECRET to a secret of your own, or switch the sandbox off.",
                id="accounts.E002",
            )
        )
    return errors
