# One command to run the app, one to run every test; both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/car_rental
PYTEST_ARGS ?=
PYTEST_WORKERS ?= auto
# axe-core (npm) for the accessibility checks of the browser tests; see accounts/tests/accessibility.py
AXE_VERSION ?= 4.14.1
AXE_DIR := $(VENV)/axe
AXE_JS := $(AXE_DIR)/node_modules/axe-core/axe.min.js
# Python writes its bytecode caches (__pycache__/, ignored by git) even where the
# environment says not to: else every pytest worker, and every server or command
# the tests start, compiles the project and its tests again (~5 s of CPU each).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run serve test venv browser receipts check lint typecheck test-sqlite test-postgres clean messages

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import sys, pip; sys.exit(int(pip.__version__.split('.')[0]) < 23)" || $(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

## make run: migrate a SQLite file, load the demo data, serve http://127.0.0.1:8000
run: venv receipts
	env -u DATABASE_URL $(PY) manage.py migrate --noinput
	env -u DATABASE_URL $(PY) manage.py seed_demo
	env -u DATABASE_URL $(PY) manage.py runserver 127.0.0.1:8000

## make serve: the production-like profile on this machine: DEBUG off, PostgreSQL,
## Redis, static files by whitenoise, gunicorn on 127.0.0.1:$PORT (knobs in
## car_rental_system/gunicorn.conf.py: WEB_CONCURRENCY processes x GUNICORN_THREADS
## threads, keep-alive), persistent database connections (CONN_MAX_AGE), a Celery
## worker and beat on the Redis broker; Ctrl-C stops all of it.
## Plain HTTP on loopback, so HTTPS redirect, HSTS and secure cookies are off here
## (behind a TLS proxy in production they stay on: see the README).
SERVE_DATABASE_URL ?= $(PG_URL)
SERVE_REDIS_URL ?= redis://127.0.0.1:6379/0
serve: venv receipts
	@test -s .serve-secrets || { printf 'SECRET_KEY=%s\nPAYMENT_SANDBOX_SECRET=%s\n' \
	  "$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	  "$$($(PY) -c 'import secrets; print(secrets.token_hex(32))')" > .serve-secrets; }
	@set -a; . ./.serve-secrets; set +a; \
	export DEBUG=false ALLOWED_HOSTS="$${ALLOWED_HOSTS:-127.0.0.1,localhost}" \
	  DATABASE_URL="$${DATABASE_URL:-$(SERVE_DATABASE_URL)}" REDIS_URL="$${REDIS_URL:-$(SERVE_REDIS_URL)}" \
	  SECURE_SSL_REDIRECT=false SECURE_HSTS_SECONDS=0 SESSION_COOKIE_SECURE=false CSRF_COOKIE_SECURE=false \
	  PAYMENT_SANDBOX_ENABLED=true SERVE_MEDIA=true CONN_MAX_AGE="$${CONN_MAX_AGE:-600}" \
	  RENTAL_STATUS_REFRESH_BY_BEAT="$${RENTAL_STATUS_REFRESH_BY_BEAT:-true}"; \
	$(PY) -m car_rental_system.pg_ready "$$DATABASE_URL" --create || { echo "make serve needs PostgreSQL"; exit 1; }; \
	$(PY) manage.py migrate --noinput && $(PY) manage.py collectstatic --noinput -v 0 && $(PY) manage.py seed_demo && \
	trap 'kill 0' INT TERM EXIT; \
	$(VENV)/bin/celery -A car_rental_system worker --loglevel INFO --concurrency 2 & \
	$(VENV)/bin/celery -A car_rental_system beat --loglevel INFO --schedule "$${TMPDIR:-/tmp}/car-rental-celerybeat-schedule" & \
	echo "serving http://127.0.0.1:$${PORT:-8000} with a Celery worker and beat (Ctrl-C stops it all)"; \
	$(VENV)/bin/gunicorn -c car_rental_system/gunicorn.conf.py car_rental_system.wsgi

## Debian's Chromium, CJK fonts and axe-core for the browser tests (skipped with a reason when absent)
browser:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "noto sans cjk"; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium and fonts-noto-cjk"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) \
	      || echo "could not install chromium: browser tests will be skipped"; \
	  else echo "chromium missing and not root: browser tests will be skipped"; fi; \
	fi
	@if [ ! -f $(AXE_JS) ]; then \
	  if command -v npm >/dev/null; then \
	    echo "installing axe-core $(AXE_VERSION) into $(AXE_DIR)"; \
	    npm install --silent --no-audit --no-fund --prefix $(AXE_DIR) axe-core@$(AXE_VERSION) >/dev/null \
	      || echo "could not install axe-core: accessibility checks will be skipped"; \
	  else echo "npm missing: accessibility checks (axe-core) will be skipped"; fi; \
	fi

## Pango (WeasyPrint draws the PDF receipts with it) and the Noto CJK fonts; installed
## like chromium when root, else a message: receipts then answer 503 and their tests skip.
RECEIPT_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk
receipts:
	@if ! ldconfig -p 2>/dev/null | grep -q "libpangoft2-1.0.so.0" || ! fc-list 2>/dev/null | grep -qi "noto sans cjk"; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(RECEIPT_PACKAGES) for the PDF receipts"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(RECEIPT_PACKAGES) >/dev/null) \
	      || echo "could not install $(RECEIPT_PACKAGES): PDF receipts will not render (503) and their tests will be skipped"; \
	  else echo "Pango or the Noto CJK fonts missing and not root: install $(RECEIPT_PACKAGES) for the PDF receipts (their tests will be skipped)"; fi; \
	fi

## make check: Django's checks, migrations in step with the models, the linter (ruff), the type checker (mypy)
## and the size check (modules within 500 lines, service/selector/view functions within 60)
check: venv lint typecheck
	env -u DATABASE_URL $(PY) manage.py check
	env -u DATABASE_URL $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m car_rental_system.size_check

## make lint: ruff's lint rules and its formatting over the code base (pyproject.toml)
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## make typecheck: mypy with django-stubs over the apps (settings in pyproject.toml)
typecheck: venv
	env -u DATABASE_URL $(VENV)/bin/mypy

test-sqlite: venv
	env -u DATABASE_URL $(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# PostgreSQL pass: DATABASE_URL when set, else the local server when it answers.
# REQUIRE_POSTGRES=1 (CI) turns "no server" into a failure instead of a skip.
# The browser tests (-m browser) run once, in the SQLite pass: they drive the
# pages of `make run`, and each flow they click through is also tested over
# HTTP in this pass. So do the tests that touch no database (-m no_db, marked
# by conftest.py: pure functions, source checks, processes started with their
# own settings): the database can't change their outcome. POSTGRES_MARKERS=
# runs both here too.
POSTGRES_MARKERS ?= not browser and not no_db
test-postgres: venv
	@url="$${DATABASE_URL:-$(PG_URL)}"; \
	if DATABASE_URL="$$url" $(PY) -c "import sys, psycopg, dj_database_url as d; c = d.parse(sys.argv[1]); psycopg.connect(host=c['HOST'] or None, port=c['PORT'] or None, user=c['USER'] or None, password=c['PASSWORD'] or None, dbname='postgres', connect_timeout=3).close()" "$$url" 2>/dev/null; then \
	  echo "== PostgreSQL pass ($$url)$(if $(POSTGRES_MARKERS), -m '$(POSTGRES_MARKERS)')"; \
	  DATABASE_URL="$$url" $(PY) -m pytest -n $(PYTEST_WORKERS) $(if $(POSTGRES_MARKERS),-m "$(POSTGRES_MARKERS)") $(PYTEST_ARGS); \
	elif [ -n "$$REQUIRE_POSTGRES" ]; then echo "PostgreSQL required but not reachable at $$url"; exit 1; \
	else echo "== PostgreSQL pass skipped: no server answers at $$url (set DATABASE_URL)"; fi

## make test: checks, then the whole suite on SQLite and on PostgreSQL. The two
## passes run at once (each with its pytest-xdist workers and its own temporary
## directory): either alone leaves a core idle while its browser tests wait on
## Chromium and its workers wait on the database. The PostgreSQL pass's output is
## kept in test-artifacts/postgres-pass.log and printed after the SQLite pass's.
PASS_LOG := test-artifacts/postgres-pass.log
test: venv browser receipts check
	@mkdir -p test-artifacts
	@echo "== SQLite pass (the PostgreSQL pass runs beside it; its output follows)"
	@$(MAKE) --no-print-directory test-postgres PYTEST_ARGS="$(PYTEST_ARGS) --basetemp=test-artifacts/tmp-postgres" > $(PASS_LOG) 2>&1 & pg=$$!; \
	$(MAKE) --no-print-directory test-sqlite PYTEST_ARGS="$(PYTEST_ARGS) --basetemp=test-artifacts/tmp-sqlite"; sqlite=$$?; \
	wait $$pg; postgres=$$?; cat $(PASS_LOG); \
	echo "== SQLite pass: $$( [ $$sqlite = 0 ] && echo passed || echo FAILED ); PostgreSQL pass: $$( [ $$postgres = 0 ] && echo passed || echo FAILED )"; \
	[ $$sqlite = 0 ] && [ $$postgres = 0 ]

## make messages: refresh the Simplified-Chinese catalogue and compile it (needs gettext)
messages: venv
	$(PY) manage.py makemessages -l zh_Hans --ignore=.venv --ignore=bench --ignore="*/tests/*" --ignore=staticfiles --no-obsolete
	$(PY) manage.py compilemessages -l zh_Hans --ignore=.venv

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles test-artifacts
