"""Fixtures shared by every app's tests."""

import os
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

# Fixtures of the fake provider gateways (SPEC §13 "Tests stay offline").
pytest_plugins = ["accounts.tests.fake_alipay", "accounts.tests.fake_wechatpay"]

hypothesis_settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
hypothesis_settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "default")
# The ledger's state machine (rentals/tests/test_ledger_properties.py): its full
# depth in CI (.ci/run exports CI=true), a short run locally so `make test`
# stays quick. LEDGER_EXAMPLES=500 pytest ... hunts longer.
LEDGER_PROFILES = {"ledger-ci": (40, 50), "ledger-local": (6, 25)}
for _name, (_examples, _steps) in LEDGER_PROFILES.items():
    hypothesis_settings.register_profile(
        _name,
        parent=hypothesis_settings.get_profile("ci" if _name == "ledger-ci" else "default"),
        max_examples=int(os.environ.get("LEDGER_EXAMPLES", _examples)),
        stateful_step_count=_steps,
        deadline=None,
    )
LEDGER_PROFILE = "ledger-ci" if os.environ.get("CI") else "ledger-local"

CHROMIUM = "/usr/bin/chromium"
BROWSER_SKIP_REASON = f"needs Debian's Chromium at {CHROMIUM} (run `make browser`)"
# Chromium as root in a sandboxed machine with no outside network.
BROWSER_LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

POSTGRES_SKIP_REASON = (
    "needs PostgreSQL row locks (a no-op on SQLite); `make test` runs these in its "
    "PostgreSQL pass (or set DATABASE_URL=postgres://postgres@127.0.0.1:5432/car_rental)"
)


# What a test needs to reach the database (pytest-django's marker or fixtures).
DATABASE_FIXTURES = {"db", "transactional_db", "live_server", "django_db_setup", "django_db_reset_sequences"}


def uses_no_database(item) -> bool:
    return item.get_closest_marker("django_db") is None and not DATABASE_FIXTURES & set(item.fixturenames)


# The modules whose tests take longest (measured by `--durations`): collected
# first, so that pytest-xdist hands them out at the start of a pass instead of
# leaving one worker busy with them after the other has finished.
SLOW_MODULES = (
    "rentals/tests/test_ledger_properties.py",
    "accounts/tests/test_callback_fuzz.py",
    "accounts/tests/test_consumption_totals_property.py",
    "car_rental_system/tests/test_two_hosts.py",
    "accounts/tests/test_figures_one_definition.py",
    "car_rental_system/tests/test_admin_view_on_site.py",
    "accounts/tests/test_wechatpay_fuzz.py",
    "car_rental_system/tests/test_csp_browser.py",
)


def _slow_first(item) -> int:
    path = item.nodeid.split("::", 1)[0]
    if path in SLOW_MODULES:
        return SLOW_MODULES.index(path)
    # the browser modules next, whole (their Chromium is one per module)
    return len(SLOW_MODULES) if path.endswith("_browser.py") else len(SLOW_MODULES) + 1


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    items.sort(key=_slow_first)
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    has_chromium = os.path.exists(CHROMIUM)
    for item in items:
        # marked before `-m` selects: the PostgreSQL pass leaves these out
        # (`-m "not no_db"`), the database can't change their outcome
        if uses_no_database(item):
            item.add_marker(pytest.mark.no_db)
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason=POSTGRES_SKIP_REASON))
        if "browser" in item.keywords and not has_chromium:
            item.add_marker(pytest.mark.skip(reason=BROWSER_SKIP_REASON))


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Playwright, one per test module."""
    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # tests make around it are synchronous all the same.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_LAUNCH_ARGS)
        yield _InstrumentedBrowser(chromium)
        chromium.close()


class _InstrumentedBrowser:
    """Chromium whose new contexts let the tests' own instruments in: axe-core
    injected as an inline script and ``wait_for_function`` predicates would
    break the site's content security policy, so contexts bypass it unless a
    test asks for it (``bypass_csp=False``, as the CSP test does)."""

    def __init__(self, browser):
        self._browser = browser

    def new_context(self, **options):
        options.setdefault("bypass_csp", True)
        return self._browser.new_context(**options)

    def __getattr__(self, name):
        return getattr(self._browser, name)


@pytest.fixture(autouse=True)
def _site_language():
    # Every test starts in the site's language (zh-hans), whatever an earlier
    # test of this worker left active (translation.activate, or a request of
    # the test client in English): else a test's words depend on the order.
    from django.conf import settings as django_settings
    from django.utils import translation

    with translation.override(django_settings.LANGUAGE_CODE):
        yield


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # The production hasher costs ~0.25 s per user; tests check behaviour, not hashing cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _payment_sandbox_on(settings):
    # Tests run with DEBUG off, as production does: the sandbox is switched on
    # the way a test installation would switch it on (SPEC §16 Production).
    settings.PAYMENT_SANDBOX_ENABLED = True
    settings.PAYMENT_SANDBOX_SECRET = "test-sandbox-secret"


@pytest.fixture(autouse=True)
def _jobs_in_process(settings):
    # Jobs run in the test's process after commit, whatever REDIS_URL says;
    # accounts/tests/test_celery_worker.py runs them on a real worker instead.
    settings.CELERY_BROKER_URL = ""
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path_factory):
    # Uploaded and demo car photos go to a directory of the test run, never
    # into the project's media/.
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def location(db):
    from vehicles.tests.factories import LocationFactory

    return LocationFactory(name="人民广场店", city="上海")


@pytest.fixture
def other_location(db):
    from vehicles.tests.factories import LocationFactory

    return LocationFactory(name="虹桥机场店", city="上海")


@pytest.fixture
def vehicle(location):
    """The car of SPEC §4's worked examples: ¥300 a day, ¥2,000 deposit."""
    from vehicles.tests.factories import VehicleFactory

    return VehicleFactory(location=location, daily_rate=Decimal("300.00"), deposit_amount=Decimal("2000.00"))


@pytest.fixture
def customer(db):
    from customers.tests.factories import CustomerFactory

    return CustomerFactory()


@pytest.fixture
def vip_customer(db):
    from customers.models import Customer
    from customers.tests.factories import CustomerFactory

    return CustomerFactory(member_level=Customer.MemberLevel.VIP)


@pytest.fixture
def walk_in_customer(db):
    from customers.tests.factories import WalkInCustomerFactory

    return WalkInCustomerFactory()


@pytest.fixture
def staff_user(db):
    from customers.tests.factories import StaffUserFactory

    return StaffUserFactory(username="clerk", is_superuser=True)


@pytest.fixture
def staff_client(client, staff_user):
    """The test client signed in as a superuser clerk."""
    client.force_login(staff_user)
    return client


@pytest.fixture
def frozen_clock(time_machine):
    """The clock stopped at ``rentals.tests.clock.NOW``, messages in English."""
    from django.utils import translation

    from rentals.tests.clock import NOW

    time_machine.move_to(NOW, tick=False)
    with translation.override("en"):
        yield time_machine


@pytest.fixture
def frozen(time_machine):
    """The clock stopped at the staff pages' moment, ``rentals.tests.admin_support.NOW``
    (2026-03-10 10:00 in Shanghai); returns it."""
    from rentals.tests.admin_support import NOW

    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def booked_rental(frozen_clock, customer, vehicle):
    """A PENDING booking of the ¥300/day, ¥2,000-deposit car for three days from
    ``rentals.tests.clock.START``: ¥2,900."""
    from rentals.services import create_rental
    from rentals.tests.clock import END, START

    return create_rental(
        customer=customer, vehicle=vehicle, start_time=START, end_time=END, pickup_location=vehicle.location
    )


@pytest.fixture
def booking_times():
    """Start tomorrow on the hour, three days long."""
    start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    return start, start + timedelta(days=3)


@pytest.fixture
def assert_ledger():
    from accounts.tests.assertions import assert_ledger_consistent

    return assert_ledger_consistent


@pytest.fixture(autouse=True)
def _flows_commit_inside_test_transactions(request, monkeypatch):
    """A test that is not transactional runs in one transaction that is rolled
    back at its end, so nothing registered with ``transaction.on_commit`` would
    ever run and a refund would never reach its provider. There, a flow's
    outermost ``atomic`` block ending well stands for its commit: the callbacks
    it registered run then, as they would after a real commit (the ones of a
    block that rolled back were already dropped by Django). Transactional
    tests commit for real and need none of this."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if transactional:
        return
    from django.db import transaction

    original_exit = transaction.Atomic.__exit__
    running = []

    def exit_and_commit(self, exc_type, exc_value, traceback):
        result = original_exit(self, exc_type, exc_value, traceback)
        conn = transaction.get_connection(self.using)
        if (
            not running
            and exc_type is None
            and not self._from_testcase
            and conn.in_atomic_block
            and not conn.needs_rollback
            and conn.atomic_blocks
            and all(block._from_testcase for block in conn.atomic_blocks)
        ):
            # One after the other, in order, as after a real commit (a callback's
            # own transactions do not start the next one).
            running.append(True)
            try:
                while conn.run_on_commit:
                    _sids, func, _robust = conn.run_on_commit.pop(0)
                    func()
            finally:
                running.pop()
        return result

    monkeypatch.setattr(transaction.Atomic, "__exit__", exit_and_commit)
