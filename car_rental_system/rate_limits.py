"""Rate limits of the doors a guesser knocks on (SPEC §15, §17 "Hostile users").

The site's sign-in, the admin's sign-in and registration are limited per
client IP and per username with django-ratelimit; the counters live in the
default cache (Redis in production, so every web host shares them). Over the
limit the RatelimitMiddleware answers with ``RATELIMIT_VIEW``, the readable
429 page. The site's and the admin's sign-in share one budget (the group
``login``): switching doors gives a guesser no more tries.

The client address is read once, here, for every rule that counts per
client (the limits and the cap on unpaid bookings per IP).
"""

import unicodedata
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django_ratelimit.core import _get_ip
from django_ratelimit.decorators import ratelimit

# Longer names are refused by the forms (150 characters) and never sign in;
# normalising only a bounded prefix keeps a huge posted name cheap.
_USERNAME_KEY_CHARS = 600


def client_ip(request) -> str | None:
    """The client's address as the rate limits count it: ``REMOTE_ADDR``, or
    the header ``RATELIMIT_IP_META_KEY`` names behind a proxy; an IPv6
    address stands for its /64 (django-ratelimit's masks). None when the
    request carries none."""
    try:
        return _get_ip(request)
    except (ImproperlyConfigured, KeyError, ValueError):
        return None


def username_key(raw: str) -> str:
    """The bucket of a posted username: the name as sign-in reads it (NFKC,
    as Django's ``UsernameField`` and ``normalize_username`` do), case-folded
    (usernames are unique ignoring case) and stripped, so ``ｒt31``, ``rt３1``
    and ``RT31`` count against ``rt31``."""
    return unicodedata.normalize("NFKC", (raw or "")[:_USERNAME_KEY_CHARS]).casefold().strip()


def _posted_username(group, request) -> str:
    return username_key(request.POST.get("username") or "")


def _setting_rate(name: str):
    """A django-ratelimit rate read from settings when used (tests change it)."""
    return lambda group, request: getattr(settings, name)


def rate_limited_by_ip_and_username(prefix: str) -> Callable:
    """Limit POSTs per client IP and per username with the settings
    ``<PREFIX>_RATE_PER_IP`` and ``<PREFIX>_RATE_PER_USERNAME``; views
    decorated with one prefix share its counters. GETs are never limited."""

    def decorate(view):
        view = ratelimit(
            group=f"{prefix}-username",
            key=_posted_username,
            rate=_setting_rate(f"{prefix.upper()}_RATE_PER_USERNAME"),
            method="POST",
        )(view)
        return ratelimit(
            group=f"{prefix}-ip", key="ip", rate=_setting_rate(f"{prefix.upper()}_RATE_PER_IP"), method="POST"
        )(view)

    return decorate
