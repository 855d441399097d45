"""Settings for the car rental platform.

Everything that differs between a laptop and production is read from the
environment; the defaults are safe for local development (SQLite file, local
memory cache, sandbox payment provider).
"""

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEVELOPMENT_SECRET_KEY = "dev-only-insecure-secret-key-change-me"
SECRET_KEY = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
DEBUG = env_bool("DEBUG", True)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
if not DEBUG:
    # Production refuses to start on development defaults (SPEC §15).
    if not SECRET_KEY or SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "DEBUG is off: set SECRET_KEY to a secret of your own (at least 32 characters), "
            "not the development default."
        )
    if not os.environ.get("ALLOWED_HOSTS", "").strip():
        raise ImproperlyConfigured("DEBUG is off: set ALLOWED_HOSTS to the host names this site answers to.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "vehicles",
    "customers",
    "rentals",
    "accounts",
]

MIDDLEWARE = [
    "car_rental_system.request_context.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",
]

# Django's username-and-password sign-in; a session's user is loaded with its customer profile
AUTHENTICATION_BACKENDS = ["accounts.backends.CustomerModelBackend"]

ROOT_URLCONF = "car_rental_system.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # Argument-free {% url %}s reversed once per URLconf, then reused
            # (constant {% translate %}s likewise: car_rental_system.templatetags.cached_translate).
            "builtins": ["car_rental_system.templatetags.constant_url"],
        },
    },
]

WSGI_APPLICATION = "car_rental_system.wsgi.application"

# --- Database -----------------------------------------------------------------
# DATABASE_URL selects PostgreSQL in production (psycopg 3); a SQLite file is the
# embedded default. SQLite runs every atomic block as BEGIN IMMEDIATE so that two
# writers are serialised instead of both reading stale rows.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        # Persistent connections (CONN_MAX_AGE seconds; `make serve` and
        # production use 600), checked before reuse so a restarted database
        # costs no failed request.
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")),
        conn_health_checks=env_bool("CONN_HEALTH_CHECKS", True),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Server-side parameters and prepared statements: a query a connection has
    # run PG_PREPARE_THRESHOLD times is planned once and then only executed
    # (planning a page's joins costs PostgreSQL more than running them).
    # "off" when a pooler in transaction mode sits in between.
    prepare_threshold = os.environ.get("PG_PREPARE_THRESHOLD", "5").strip().lower()
    if prepare_threshold not in ("", "off", "none"):
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            {"server_side_binding": True, "prepare_threshold": int(prepare_threshold)}
        )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("SQLITE_TEST_NAME") or None}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache --------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis cache, with one client per connection pool
            "BACKEND": "car_rental_system.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "car_rental",
        }
    }
    # Sessions live in the shared cache, written through to the database so a
    # cache restart logs nobody out.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Background jobs (SPEC §12) ------------------------------------------------
# No broker (the default of `make run`): jobs run in this process right after
# the transaction that asks for them commits.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ACKS_LATE = True
# Workers log through LOGGING above (JSON lines with the request id), not Celery's own setup.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BEAT_SCHEDULE = {
    "expire_payments": {"task": "accounts.tasks.expire_payments", "schedule": 300.0},
    "update_expired_rentals": {"task": "rentals.tasks.update_expired_rentals", "schedule": 300.0},
    "sync_payments": {"task": "accounts.tasks.sync_payments", "schedule": 300.0},
    "update_historical_orders": {
        "task": "rentals.tasks.update_historical_orders",
        "schedule": crontab(hour=3, minute=15),
    },
    # Yesterday's statements of the configured providers (SPEC §14).
    "reconcile_payments": {"task": "accounts.tasks.reconcile_payments", "schedule": crontab(hour=10, minute=0)},
}

# --- Auth ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:orders"
LOGOUT_REDIRECT_URL = "vehicles:list"

# --- I18n / time --------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static -------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")

# --- Media (car photos uploaded in the admin, demo photos from seed_demo) --------
# Files live in MEDIA_ROOT. Django serves them itself with DEBUG on or
# SERVE_MEDIA=true (make run, make serve); in production the proxy serves
# MEDIA_ROOT at MEDIA_URL and SERVE_MEDIA stays off.
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or BASE_DIR / "media")
SERVE_MEDIA = env_bool("SERVE_MEDIA", DEBUG)

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    # Behind a TLS-terminating proxy: HTTPS only, HSTS, and the proxy's word on
    # the scheme (SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https").
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes speak plain HTTP inside the network
    # Hashed, compressed static files served by whitenoise from STATIC_ROOT
    # (collectstatic first); with DEBUG on, runserver serves them from the apps.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
proxy_header = env_list("SECURE_PROXY_SSL_HEADER", "")
if len(proxy_header) == 2:
    SECURE_PROXY_SSL_HEADER = tuple(proxy_header)

# --- Content security policy (django-csp) --------------------------------------
# Scripts, styles, fonts and images come from this site only (Bootstrap and
# Chart.js are vendored): no inline script or style anywhere, and no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Rate limits (django-ratelimit; SPEC §15) ---------------------------------
# POSTs to the login and registration pages, per client IP and per username.
# The counters live in the default cache: Redis in production, so every web
# host shares them. Behind a proxy, RATELIMIT_IP_META_KEY names the header
# with the client address (e.g. HTTP_X_REAL_IP).
LOGIN_RATE_PER_IP = os.environ.get("LOGIN_RATE_PER_IP", "50/h")
LOGIN_RATE_PER_USERNAME = os.environ.get("LOGIN_RATE_PER_USERNAME", "10/h")
REGISTER_RATE_PER_IP = os.environ.get("REGISTER_RATE_PER_IP", "20/h")
REGISTER_RATE_PER_USERNAME = os.environ.get("REGISTER_RATE_PER_USERNAME", "10/h")
RATELIMIT_VIEW = "car_rental_system.views.rate_limited"
if os.environ.get("RATELIMIT_IP_META_KEY"):
    RATELIMIT_IP_META_KEY = os.environ["RATELIMIT_IP_META_KEY"]

# --- Money rules (SPEC §4) ----------------------------------------------------
MEMBER_DISCOUNTS = {
    "REGULAR": Decimal("0"),
    "SILVER": Decimal("0.05"),
    "GOLD": Decimal("0.10"),
    "VIP": Decimal("0.15"),
}
CROSS_LOCATION_FEE = Decimal(os.environ.get("CROSS_LOCATION_FEE", "200.00"))
OVERDUE_GRACE = timedelta(minutes=int(os.environ.get("OVERDUE_GRACE_MINUTES", "60")))
OVERDUE_RATE = Decimal(os.environ.get("OVERDUE_RATE", "1.5"))
# SPEC §16: an unpaid booking holds its car this long (never past its start);
# a customer holds at most this many unpaid bookings at once.
BOOKING_PAYMENT_MINUTES = int(os.environ.get("BOOKING_PAYMENT_MINUTES", "30"))
MAX_UNPAID_BOOKINGS = int(os.environ.get("MAX_UNPAID_BOOKINGS", "3"))
# SPEC §17: and one client address at most this many, whichever accounts book.
MAX_UNPAID_BOOKINGS_PER_IP = int(os.environ.get("MAX_UNPAID_BOOKINGS_PER_IP", "6"))
# Staff may hand a car over at most this long before the booked start (§16).
EARLY_PICKUP_MINUTES = int(os.environ.get("EARLY_PICKUP_MINUTES", "60"))
# Pages refresh rental statuses by time at most this often for the whole table.
RENTAL_STATUS_REFRESH_SECONDS = 300
# On when a Celery beat runs ``update_expired_rentals`` on that schedule (make
# serve, production): pages then leave the refresh to it entirely.
RENTAL_STATUS_REFRESH_BY_BEAT = env_bool("RENTAL_STATUS_REFRESH_BY_BEAT", False)

# --- Receipts (SPEC §20) ---------------------------------------------------------
# The company named at the head of every PDF receipt.
COMPANY_NAME = os.environ.get("COMPANY_NAME", "租车平台 Car Rental Co.")
COMPANY_ADDRESS = os.environ.get("COMPANY_ADDRESS", "上海市浦东新区世纪大道 100 号")

# --- Payments (SPEC §6) -------------------------------------------------------
PAYMENT_PROVIDER = os.environ.get("PAYMENT_PROVIDER", "")
PAYMENT_TTL_MINUTES = int(os.environ.get("PAYMENT_TTL_MINUTES", "30"))
PAYMENT_SANDBOX_SECRET = os.environ.get("PAYMENT_SANDBOX_SECRET", "sandbox-dev-secret")
PAYMENT_CALLBACK_TOLERANCE_SECONDS = int(os.environ.get("PAYMENT_CALLBACK_TOLERANCE_SECONDS", "300"))
# What the sandbox does with a refund (SPEC §11): refunded | refund_failed | hold.
PAYMENT_SANDBOX_REFUND_OUTCOME = os.environ.get("PAYMENT_SANDBOX_REFUND_OUTCOME", "refunded")
# This site's public address (https://rent.example.com): providers post their
# notifications to SITE_URL + /api/payments/callback/<provider>/ and send the
# browser back to it.
SITE_URL = os.environ.get("SITE_URL", "")

# --- Alipay (SPEC §13) ----------------------------------------------------------
# ALIPAY charges go to Alipay when ALIPAY_APP_ID is set. Keys: PEM text or the
# path of a PEM file. Read when used; `manage.py check` refuses a half
# configuration; `manage.py payment_providers` prints what is configured.
ALIPAY_APP_ID = os.environ.get("ALIPAY_APP_ID", "")
ALIPAY_APP_PRIVATE_KEY = os.environ.get("ALIPAY_APP_PRIVATE_KEY", "")
ALIPAY_PUBLIC_KEY = os.environ.get("ALIPAY_PUBLIC_KEY", "")
ALIPAY_GATEWAY = os.environ.get("ALIPAY_GATEWAY", "https://openapi.alipay.com/gateway.do")
ALIPAY_TIMEOUT_SECONDS = float(os.environ.get("ALIPAY_TIMEOUT_SECONDS", "10"))
# Our Alipay merchant id (PID, 2088…): a statement naming another account is refused (unset: not checked).
ALIPAY_PID = os.environ.get("ALIPAY_PID", "")

# WeChat Pay, API v3 (SPEC §13): on when WECHATPAY_MCHID is set. Keys are PEM
# text or the path of a PEM file; accounts.checks refuses a half configuration.
WECHATPAY_MCHID = os.environ.get("WECHATPAY_MCHID", "")
WECHATPAY_APPID = os.environ.get("WECHATPAY_APPID", "")
WECHATPAY_PRIVATE_KEY = os.environ.get("WECHATPAY_PRIVATE_KEY", "")
WECHATPAY_CERT_SERIAL_NO = os.environ.get("WECHATPAY_CERT_SERIAL_NO", "")
WECHATPAY_APIV3_KEY = os.environ.get("WECHATPAY_APIV3_KEY", "")
WECHATPAY_PUBLIC_KEY = os.environ.get("WECHATPAY_PUBLIC_KEY", "")
WECHATPAY_PUBLIC_KEY_ID = os.environ.get("WECHATPAY_PUBLIC_KEY_ID", "")
WECHATPAY_GATEWAY = os.environ.get("WECHATPAY_GATEWAY", "https://api.mch.weixin.qq.com")
# Absolute URL of /api/payments/callback/wechatpay/ (default: from the request).
WECHATPAY_NOTIFY_URL = os.environ.get("WECHATPAY_NOTIFY_URL", "")
WECHATPAY_TIMEOUT_SECONDS = float(os.environ.get("WECHATPAY_TIMEOUT_SECONDS", "10"))
# WeChat Pay Score 免押租车 (SPEC §18, CREDIT): the service id (32 digits) WeChat
# Pay gives once the Pay Score permission is approved; unset, no Pay Score holds.
WECHATPAY_PAYSCORE_SERVICE_ID = os.environ.get("WECHATPAY_PAYSCORE_SERVICE_ID", "")

# --- Logging ------------------------------------------------------------------
# One console handler, on the root logger. Django's own "django" logger would
# print every request error a second time through its default console handler
# (DEBUG) before propagating here, so it gets no handler of its own. A 403 logs
# one line (besides runserver's access line), without a traceback.
# JSON lines in production (LOG_FORMAT=json, the default with DEBUG off), one
# object per record with time, level, logger, message, the request id and the
# user id; request lines also carry method, path, status and duration_ms.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(user_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        },
    },
    "filters": {
        "request_context": {"()": "car_rental_system.request_context.RequestContextFilter"},
        "permission_denied_without_traceback": {"()": "car_rental_system.log_filters.PermissionDeniedWithoutTraceback"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_context"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "level": os.environ.get("LOG_LEVEL", "INFO"), "propagate": True},
        "django.request": {"filters": ["permission_denied_without_traceback"]},
        "django.db.backends": {"level": "WARNING"},
        # runserver's own access line; the request middleware logs each request
        "django.server": {"level": "WARNING"},
        # WeasyPrint logs each step of every PDF receipt at INFO; its warnings stay.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# --- Bounds and production guards (SPEC §16) ------------------------------------
# A booking starts at most this many days ahead and lasts at most
# MAX_RENTAL_DAYS, so that every refund of its money falls due inside the
# providers' refund window (WeChat Pay: 365 days after payment; SPEC §17).
# Staff filters and exports are bounded by the same horizon.
BOOKING_HORIZON_DAYS = int(os.environ.get("BOOKING_HORIZON_DAYS", "180"))
MAX_RENTAL_DAYS = int(os.environ.get("MAX_RENTAL_DAYS", "90"))
# No fee entered by staff and no order total may exceed this amount.
MAX_ORDER_TOTAL = Decimal(os.environ.get("MAX_ORDER_TOTAL", "1000000.00"))
# For the overlap check an overdue rental ends at max(end_time, now + this):
# the car is kept free for its late driver, and bookable after (SPEC §17).
OVERDUE_HOLD_HOURS = int(os.environ.get("OVERDUE_HOLD_HOURS", "24"))
# A car's daily rate is at most this (SPEC §17).
MAX_DAILY_RATE = Decimal(os.environ.get("MAX_DAILY_RATE", "100000.00"))
# With DEBUG off the sandbox provider (and its self-approving checkout page)
# works only when switched on explicitly and with a secret of its own.
PAYMENT_SANDBOX_ENABLED = env_bool("PAYMENT_SANDBOX_ENABLED", False)

# --- Error reports (SPEC §15) ----------------------------------------------------
# Sentry when SENTRY_DSN is set (SENTRY_ENVIRONMENT, SENTRY_RELEASE,
# SENTRY_TRACES_SAMPLE_RATE); nothing at all otherwise. No personal data is
# sent: see car_rental_system/error_reporting.py.
from car_rental_system.error_reporting import init_error_reporting  # noqa: E402

ERROR_REPORTING = init_error_reporting()
