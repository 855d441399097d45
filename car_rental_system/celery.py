"""The Celery app (SPEC §12): ``celery -A car_rental_system worker`` and
``celery -A car_rental_system beat``. Settings come from Django's ``CELERY_*``
settings (broker ``CELERY_BROKER_URL``, the beat schedule)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "car_rental_system.settings")

app = Celery("car_rental_system")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# --- the request id travels with the jobs a request enqueues (SPEC §15) ----------

import logging  # noqa: E402

from celery.signals import before_task_publish, task_postrun, task_prerun  # noqa: E402

from car_rental_system.request_context import current_request_id, request_id_var  # noqa: E402

job_logger = logging.getLogger("car_rental_system.jobs")
_job_tokens: dict[str, object] = {}


@before_task_publish.connect
def _send_the_request_id(headers=None, **kwargs):
    request_id = current_request_id()
    if request_id and headers is not None:
        headers.setdefault("request_id", request_id)


@task_prerun.connect
def _take_the_request_id(task_id=None, task=None, args=None, **kwargs):
    request_id = getattr(task.request, "request_id", None) or ""
    _job_tokens[task_id] = request_id_var.set(request_id)
    job_logger.info("job %s%r started", task.name, tuple(args or ()), extra={"task_id": task_id})


@task_postrun.connect
def _drop_the_request_id(task_id=None, **kwargs):
    token = _job_tokens.pop(task_id, None)
    if token is not None:
        request_id_var.reset(token)
