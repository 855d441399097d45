"""WeChat Pay keys and amounts: fen, the merchant and platform keys read from
settings, and the checks of a notification's signature and encrypted resource
(SPEC §13). No network, no Django models."""

import hashlib
import json
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from accounts.providers.interface import InvalidSignature, MalformedCallback, ProviderError
from car_rental_system.money import quantize_money

APIV3_KEY_LENGTH = 32
DEFAULT_GATEWAY = "https://api.mch.weixin.qq.com"

# --- amounts ----------------------------------------------------------------------------


def to_fen(amount) -> int:
    """Yuan (Decimal or its string) → fen, exactly; a fraction of a fen is an error."""
    value = Decimal(str(amount)) * 100
    if value != value.to_integral_value() or value <= 0:
        raise ProviderError("bad_amount", f"{amount} is not a positive whole number of fen")
    return int(value)


def from_fen(fen) -> Decimal:
    """Fen (a JSON integer) → yuan as a Decimal with two places, exactly."""
    if isinstance(fen, bool) or not isinstance(fen, int) or fen < 0 or fen > 10**12:
        raise MalformedCallback("bad_amount", "amount is not a whole number of fen")
    return quantize_money(Decimal(fen) / 100)


# --- configuration ----------------------------------------------------------------------


def _setting(name: str, default=""):
    value = getattr(settings, name, default)
    return default if value is None else value


def read_pem(value: str, *, setting: str) -> bytes:
    """PEM text, or the path of a PEM file (SPEC §13)."""
    text = str(value or "").strip()
    if not text:
        raise ProviderError("not_configured", f"{setting} is not set")
    if "-----BEGIN" in text:
        return text.encode()
    try:
        return Path(text).read_bytes()
    except OSError as exc:
        raise ProviderError("not_configured", f"{setting}: cannot read {text!r} ({exc.strerror})") from None


# Parsing an RSA private key checks it (tens of milliseconds for 2048 bits), and
# the keys are read on every notification, pay page and provider call: each PEM
# is parsed once per process (a changed setting is a different PEM).
@lru_cache(maxsize=16)
def _private_key_from(data: bytes):
    return serialization.load_pem_private_key(data, password=None)


@lru_cache(maxsize=16)
def _public_key_from(data: bytes):
    try:
        return serialization.load_pem_public_key(data)
    except ValueError:  # a certificate is accepted too: its public key is what counts
        from cryptography.x509 import load_pem_x509_certificate

        return load_pem_x509_certificate(data).public_key()


def load_private_key(value: str, *, setting: str = "WECHATPAY_PRIVATE_KEY") -> rsa.RSAPrivateKey:
    try:
        key = _private_key_from(read_pem(value, setting=setting))
    except (ValueError, TypeError) as exc:
        raise ProviderError("not_configured", f"{setting} is not a readable PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ProviderError("not_configured", f"{setting} is not an RSA key")
    return key


def load_public_key(value: str, *, setting: str = "WECHATPAY_PUBLIC_KEY") -> rsa.RSAPublicKey:
    try:
        key = _public_key_from(read_pem(value, setting=setting))
    except ValueError as exc:
        raise ProviderError("not_configured", f"{setting} is not a readable PEM public key ({exc})") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ProviderError("not_configured", f"{setting} is not an RSA key")
    return key


def _pkcs8_text(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _spki_text(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def fingerprint(key) -> str:
    """SHA-256 of a public key's DER, first 16 hex digits (shown to ops, never the key)."""
    public = key.public_key() if hasattr(key, "public_key") else key
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def configuration_errors() -> list[str]:
    """What is wrong with the WeChat Pay settings (empty: fine, or not configured at all)."""
    mchid = str(_setting("WECHATPAY_MCHID") or "")
    if not mchid:
        return []
    errors = []
    for name in ("WECHATPAY_APPID", "WECHATPAY_CERT_SERIAL_NO", "WECHATPAY_PUBLIC_KEY_ID"):
        if not str(_setting(name) or "").strip():
            errors.append(f"{name} is not set")
    apiv3 = str(_setting("WECHATPAY_APIV3_KEY") or "")
    if len(apiv3) != APIV3_KEY_LENGTH or len(apiv3.encode()) != APIV3_KEY_LENGTH:
        errors.append(f"WECHATPAY_APIV3_KEY must be {APIV3_KEY_LENGTH} ASCII characters (it has {len(apiv3)})")
    for name, loader in (("WECHATPAY_PRIVATE_KEY", load_private_key), ("WECHATPAY_PUBLIC_KEY", load_public_key)):
        try:
            loader(_setting(name), setting=name)
        except ProviderError as exc:
            errors.append(exc.detail)
    gateway = str(_setting("WECHATPAY_GATEWAY", DEFAULT_GATEWAY) or "")
    if not gateway.startswith(("https://", "http://")):
        errors.append("WECHATPAY_GATEWAY must be an http(s) URL")
    return errors


# --- notifications ----------------------------------------------------------------------


def verify_signature(*, public_key, timestamp: str, nonce: str, body: bytes, signature: str) -> bool:
    """SHA256withRSA over ``"{timestamp}\\n{nonce}\\n{body}\\n"`` with the platform key."""
    from wechatpayv3.utils import rsa_verify

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    try:
        return bool(rsa_verify(timestamp, nonce, text, signature, public_key))
    except Exception:  # a signature of the wrong size and the like: not ours
        return False


def decrypt_resource(resource: dict, apiv3_key: str) -> dict:
    """AEAD_AES_256_GCM of a notification's ``resource`` with the APIv3 key."""
    from wechatpayv3.utils import aes_decrypt

    if not isinstance(resource, dict) or resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise MalformedCallback(detail="resource is not AEAD_AES_256_GCM")
    nonce = resource.get("nonce")
    ciphertext = resource.get("ciphertext")
    associated_data = resource.get("associated_data") or ""
    if not all(isinstance(v, str) for v in (nonce, ciphertext, associated_data)) or not nonce or not ciphertext:
        raise MalformedCallback(detail="resource without nonce or ciphertext")
    try:
        plain = aes_decrypt(nonce=nonce, ciphertext=ciphertext, associated_data=associated_data, apiv3_key=apiv3_key)
    except Exception:  # bad base64, a nonce of the wrong size…
        plain = None
    if plain is None:
        raise InvalidSignature("decryption_failed", "resource does not decrypt with the APIv3 key")
    try:
        data = json.loads(plain)
    except ValueError:
        raise MalformedCallback("malformed_json", "resource is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedCallback(detail="resource is not a JSON object")
    return data
