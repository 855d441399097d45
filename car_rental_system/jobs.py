"""Background jobs after commit (SPEC §12).

``after_commit`` enqueues a Celery task once the current transaction commits,
never inside it, so a rolled-back flow asks no provider anything. With no
broker configured (``CELERY_BROKER_URL`` empty, the default of ``make run``)
the job runs in this process right after the commit instead; an error is
logged, not raised into the request that committed (the row stays as it was
and ``sync_payments`` finishes it later).
"""

import logging
from collections.abc import Callable
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


def broker_configured() -> bool:
    return bool(getattr(settings, "CELERY_BROKER_URL", "")) and not getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)


def after_commit(task_path: str, *args, run_now: Callable[[], object]) -> None:
    """Run ``task_path`` (a Celery task, given ids only) after commit: on the
    broker when there is one, else ``run_now`` in this process."""
    transaction.on_commit(partial(dispatch, task_path, args, run_now), robust=True)


def dispatch(task_path: str, args: tuple, run_now: Callable[[], object]) -> None:
    if broker_configured():
        import_string(task_path).apply_async(args=args)
        return
    from accounts.providers import ProviderError

    try:
        run_now()
    except ProviderError as exc:
        logger.warning("in-process job %s%r: %s; it is left for the next sync", task_path, args, exc)
    except Exception:
        logger.exception("in-process job %s%r failed; it is left for the next sync", task_path, args)
