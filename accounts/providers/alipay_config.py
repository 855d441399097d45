"""Alipay's configuration: the keys read from settings, the SDK client on
them, and the amount formats of the open platform (SPEC §13). No network."""

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from urllib.parse import urljoin

from alipay import AliPay
from alipay.utils import AliPayConfig
from Cryptodome.PublicKey import RSA
from django.conf import settings

from accounts.providers.interface import MalformedCallback, ProviderUnavailable
from car_rental_system.money import quantize_money

DEFAULT_GATEWAY = "https://openapi.alipay.com/gateway.do"
SIGN_TYPE = "RSA2"
# ``fullmatch`` only (``$`` would accept a trailing newline).
_AMOUNT = re.compile(r"[0-9]{1,10}(\.[0-9]{1,2})?")


class AlipayNotConfigured(ProviderUnavailable):
    reason = "alipay_not_configured"


# --- configuration ----------------------------------------------------------------


def _setting(name: str, default=""):
    value = getattr(settings, name, default)
    return default if value is None else value


def read_key_text(value: str) -> str:
    """The text of a key setting: PEM text as is, else the content of the file it names."""
    value = str(value or "").strip()
    if not value:
        return ""
    if value.startswith("-----BEGIN"):
        return value
    if len(value) < 4096 and "\n" not in value and os.path.isfile(value):
        with open(value, encoding="ascii") as handle:
            return handle.read().strip()
    return value


@lru_cache(maxsize=16)
def _import_key(text: str):
    """An RSA key from PEM text (or the bare base64 DER body Alipay's tool prints)."""
    if text.startswith("-----BEGIN"):
        return RSA.import_key(text)
    der = base64.b64decode("".join(text.split()), validate=True)
    return RSA.import_key(der)


def load_key(setting_name: str, *, private: bool):
    """The RSA key of a setting; :class:`AlipayNotConfigured` saying why when it can't be used."""
    return _import_key(_key_text(setting_name, private=private))


@lru_cache(maxsize=16)
def _pem(text: str, *, private: bool) -> str:
    """The PEM the SDK is given for a key's text: exporting a key costs more
    than verifying a notification with it, so it is done once per key."""
    key = _import_key(text)
    return (key if private else key.public_key()).export_key().decode()


def _key_text(setting_name: str, *, private: bool) -> str:
    """The text of a key setting that holds a usable key (see :func:`load_key`)."""
    try:
        text = read_key_text(_setting(setting_name))
    except (OSError, UnicodeDecodeError) as exc:
        raise AlipayNotConfigured(detail=f"{setting_name}: cannot read the file ({type(exc).__name__})") from None
    if not text:
        raise AlipayNotConfigured(detail=f"{setting_name} is not set")
    try:
        key = _import_key(text)
    except (ValueError, IndexError, TypeError, binascii.Error):
        raise AlipayNotConfigured(detail=f"{setting_name} is not a readable RSA key (PEM text or a PEM file)") from None
    if private and not key.has_private():
        raise AlipayNotConfigured(detail=f"{setting_name} must be the application's private key")
    if key.size_in_bits() < 2048:
        raise AlipayNotConfigured(detail=f"{setting_name}: RSA2 needs a key of at least 2048 bits")
    return text


def fingerprint(key) -> str:
    """Short SHA-256 fingerprint of a key's public part (DER), safe to print."""
    digest = hashlib.sha256(key.public_key().export_key(format="DER")).hexdigest()
    return f"sha256:{digest[:16]}"


def configuration_problems() -> list[str]:
    """What keeps a configured Alipay (``ALIPAY_APP_ID`` set) from working; [] when nothing does."""
    problems = []
    for name, private in (("ALIPAY_APP_PRIVATE_KEY", True), ("ALIPAY_PUBLIC_KEY", False)):
        try:
            load_key(name, private=private)
        except AlipayNotConfigured as exc:
            problems.append(exc.detail)
    gateway = str(_setting("ALIPAY_GATEWAY", DEFAULT_GATEWAY) or DEFAULT_GATEWAY)
    if not gateway.startswith(("https://", "http://")):
        problems.append("ALIPAY_GATEWAY must be an http(s) URL")
    if not str(_setting("SITE_URL")).startswith(("https://", "http://")):
        problems.append("SITE_URL (this site's public address, for notify_url) is not set")
    return problems


@dataclass(frozen=True)
class _Config:
    app_id: str
    private_pem: str
    public_pem: str
    gateway: str
    timeout: float


def _config() -> _Config:
    app_id = str(_setting("ALIPAY_APP_ID")).strip()
    if not app_id:
        raise AlipayNotConfigured(detail="ALIPAY_APP_ID is not set")
    return _Config(
        app_id=app_id,
        private_pem=_pem(_key_text("ALIPAY_APP_PRIVATE_KEY", private=True), private=True),
        public_pem=_pem(_key_text("ALIPAY_PUBLIC_KEY", private=False), private=False),
        gateway=str(_setting("ALIPAY_GATEWAY", DEFAULT_GATEWAY) or DEFAULT_GATEWAY),
        timeout=float(_setting("ALIPAY_TIMEOUT_SECONDS", 10) or 10),
    )


class _Client(AliPay):
    """The SDK's client, pointed at ``ALIPAY_GATEWAY`` and with our timeout."""

    def __init__(self, config: _Config):
        super().__init__(
            appid=config.app_id,
            app_private_key_string=config.private_pem,
            alipay_public_key_string=config.public_pem,
            sign_type=SIGN_TYPE,
            config=AliPayConfig(timeout=config.timeout),
        )
        self._gateway = config.gateway


@lru_cache(maxsize=4)
def _client_for(config: _Config) -> _Client:
    """One SDK client per configuration (it holds no other state)."""
    return _Client(config)


def site_url(path: str) -> str:
    """``path`` made absolute with ``SITE_URL`` (the address Alipay reaches us at)."""
    base = str(_setting("SITE_URL")).strip()
    if not base:
        raise AlipayNotConfigured(detail="SITE_URL is not set")
    return urljoin(base.rstrip("/") + "/", path.lstrip("/"))


def money(amount) -> str:
    """A Decimal amount as Alipay wants it: yuan with two decimals, never a float."""
    return str(quantize_money(amount))


def _amount(value, field: str) -> Decimal:
    if not isinstance(value, str) or not _AMOUNT.fullmatch(value):
        raise MalformedCallback(detail=f"bad {field}")
    return quantize_money(value)
