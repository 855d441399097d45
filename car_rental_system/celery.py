"""The Celery app (SPEC §12): ``celery -A car_rental_system worker`` and
``celery -A car_rental_system beat``. Settings come from Django's ``CELERY_*``
settings (broker ``CELERY_BROKER_URL``, the beat schedule)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "car_rental_system.settings")

app = Celery("car_rental_system")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
