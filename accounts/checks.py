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


@checks.register()
def check_wechatpay_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """WeChat Pay is all or nothing: with ``WECHATPAY_MCHID`` set, every key
    must be there and readable and the APIv3 key 32 characters (SPEC §13)."""
    from accounts.providers import wechatpay_keys as wechatpay

    return [
        checks.Error(
            f"WeChat Pay is half configured: {problem}.",
            hint="Set every WECHATPAY_* setting (keys as PEM text or the path of a PEM file), "
            "or unset WECHATPAY_MCHID.",
            id="accounts.E012",
        )
        for problem in wechatpay.configuration_errors()
    ]


@checks.register()
def check_alipay_configuration(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Alipay is configured all the way or not at all (SPEC §13): an app id
    without usable keys (or the reverse) fails at start-up, not at the first
    payment."""
    from accounts.providers import alipay

    app_id = str(getattr(settings, "ALIPAY_APP_ID", "") or "").strip()
    keys = [name for name in ("ALIPAY_APP_PRIVATE_KEY", "ALIPAY_PUBLIC_KEY") if getattr(settings, name, "")]
    if not app_id:
        if keys:
            return [
                checks.Error(
                    f"{' and '.join(keys)} set without ALIPAY_APP_ID: Alipay is half configured.",
                    hint="Set ALIPAY_APP_ID to use Alipay, or remove the Alipay keys.",
                    id="accounts.E010",
                )
            ]
        return []
    return [
        checks.Error(
            f"ALIPAY_APP_ID is set but Alipay can't be used: {problem}.",
            hint="Give ALIPAY_APP_PRIVATE_KEY (the application's private key) and ALIPAY_PUBLIC_KEY (Alipay's "
            "public key) as PEM text or as the path of a PEM file, and SITE_URL (this site's public address); "
            "`manage.py payment_providers` shows what is configured.",
            id="accounts.E011",
        )
        for problem in alipay.configuration_problems()
    ]
