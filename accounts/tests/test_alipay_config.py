"""Alipay's configuration (SPEC §13): a half configuration fails at start-up,
keys are PEM text or a PEM file, and ops can read what is configured without
seeing a secret."""

import hashlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import translation

from accounts import providers
from accounts.checks import check_alipay_configuration
from accounts.providers import PaymentProvider, provider_for_method
from accounts.tests.fake_alipay import APP_ID


def _errors():
    return [(e.id, e.msg) for e in check_alipay_configuration()]


def test_a_complete_configuration_passes(fake_alipay):
    assert _errors() == []
    assert provider_for_method("ALIPAY").name == "alipay"
    assert provider_for_method("BANK").name == "sandbox"


def test_an_app_id_without_keys_stops_the_start_up(settings):
    settings.ALIPAY_APP_ID = APP_ID
    settings.ALIPAY_APP_PRIVATE_KEY = ""
    settings.ALIPAY_PUBLIC_KEY = ""
    settings.SITE_URL = "https://rent.example.com"

    assert [code for code, _msg in _errors()] == ["accounts.E011", "accounts.E011"]
    with pytest.raises(SystemCheckError, match="ALIPAY_APP_PRIVATE_KEY is not set"):
        call_command("check")


def test_keys_without_an_app_id_are_a_half_configuration(settings, alipay_keys):
    settings.ALIPAY_APP_ID = ""
    settings.ALIPAY_PUBLIC_KEY = alipay_keys[1].public_key().export_key().decode()

    assert [code for code, _msg in _errors()] == ["accounts.E010"]


@pytest.mark.parametrize(
    "private, public, problem",
    [
        (
            "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----",
            None,
            "ALIPAY_APP_PRIVATE_KEY is not a readable RSA key",
        ),
        ("/nonexistent/app_private_key.pem", None, "ALIPAY_APP_PRIVATE_KEY is not a readable RSA key"),
        ("public-as-private", None, "ALIPAY_APP_PRIVATE_KEY must be the application's private key"),
        (None, "garbage", "ALIPAY_PUBLIC_KEY is not a readable RSA key"),
    ],
)
def test_an_unreadable_key_is_named(fake_alipay, alipay_keys, settings, private, public, problem):
    if private == "public-as-private":
        private = alipay_keys[0].public_key().export_key().decode()
    if private is not None:
        settings.ALIPAY_APP_PRIVATE_KEY = private
    if public is not None:
        settings.ALIPAY_PUBLIC_KEY = public

    assert any(problem in msg for _code, msg in _errors()), _errors()
    assert not providers.get_provider("alipay").is_usable()


def test_keys_may_be_paths_to_pem_files(fake_alipay, alipay_keys, settings, tmp_path):
    private_file = tmp_path / "app_private_key.pem"
    public_file = tmp_path / "alipay_public_key.pem"
    private_file.write_bytes(alipay_keys[0].export_key())
    public_file.write_bytes(alipay_keys[1].public_key().export_key())
    settings.ALIPAY_APP_PRIVATE_KEY = str(private_file)
    settings.ALIPAY_PUBLIC_KEY = str(public_file)

    assert _errors() == []
    assert providers.get_provider("alipay").is_usable()


def test_the_command_prints_routes_and_fingerprints_never_secrets(fake_alipay, alipay_keys, settings):
    out = StringIO()
    with translation.override("en"):
        call_command("payment_providers", stdout=out)
    text = out.getvalue()

    assert "ALIPAY  → alipay (usable)" in text
    assert "BANK    → sandbox (usable)" in text
    assert f"app_id: {APP_ID}" in text
    assert f"gateway: {fake_alipay.url}" in text
    assert "notify_url: https://rent.example.com/api/payments/callback/alipay/" in text
    for label, key in (("app_key", alipay_keys[0]), ("alipay_public_key", alipay_keys[1])):
        digest = hashlib.sha256(key.public_key().export_key(format="DER")).hexdigest()[:16]
        assert f"{label}: sha256:{digest}" in text
    private_body = settings.ALIPAY_APP_PRIVATE_KEY.splitlines()[1]
    assert "PRIVATE KEY" not in text and private_body not in text
    assert settings.PAYMENT_SANDBOX_SECRET not in text


def test_the_command_lists_every_registered_provider(monkeypatch, settings):
    class Other(PaymentProvider):
        name = "otherpay"

        def describe(self):
            return {"provider": self.name, "merchant": "1900000001"}

    monkeypatch.setitem(providers.PROVIDERS, "otherpay", Other)
    settings.ALIPAY_APP_ID = ""
    out = StringIO()
    with translation.override("en"):
        call_command("payment_providers", stdout=out)

    assert "otherpay: usable" in out.getvalue() and "merchant: 1900000001" in out.getvalue()
    assert "ALIPAY  → sandbox" in out.getvalue()


@pytest.mark.parametrize(
    "agent, mobile",
    [
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", True),
        ("Mozilla/5.0 (Linux; Android 14; 23127PN0CC) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36", True),
        ("Mozilla/5.0 (Linux; Android 12; HarmonyOS; ALN-AL00) AppleWebKit/537.36 MicroMessenger/8.0.47", True),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36", False),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15", False),
        ("", False),
    ],
)
def test_is_mobile_reads_the_user_agent(rf, agent, mobile):
    from accounts.devices import is_mobile

    assert is_mobile(rf.get("/", headers={"User-Agent": agent})) is mobile
