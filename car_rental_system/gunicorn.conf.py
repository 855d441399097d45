"""gunicorn settings of `make serve` and of production
(``gunicorn -c car_rental_system/gunicorn.conf.py car_rental_system.wsgi``).

Each knob reads the environment, so a host tunes it without editing this file:

- ``WEB_CONCURRENCY`` worker processes (default: the number of CPU cores, at
  least 2). A request spends part of its time waiting for PostgreSQL and
  Redis, so each worker runs ``GUNICORN_THREADS`` threads (gthread, default
  2): a process keeps its core busy while one of its threads waits, and keeps
  one persistent database connection per thread (``CONN_MAX_AGE``). More
  threads than that only queue for the interpreter lock on pages that are
  mostly Python (template rendering), which lengthens their tail latency.
- Keep-alive connections (``GUNICORN_KEEPALIVE`` seconds, default 5) spare a
  proxy or a client a TCP handshake per request.
- The app is loaded once in the arbiter and forked (``preload_app``), so the
  workers share its memory and start at once. No database or Redis
  connection is opened at import, so none is shared across the fork.
- No access log: the request middleware already writes one JSON line per
  request with its id, status and duration.
"""

import multiprocessing
import os

bind = [f"127.0.0.1:{os.environ.get('PORT', '8000')}"]
workers = int(os.environ.get("WEB_CONCURRENCY") or max(2, multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 10
accesslog = None
# No control socket: its default path is one per user ($HOME/.gunicorn), which
# two servers on one host would fight over.
control_socket_disable = True
