"""Thin periodic Celery tasks of the rental ops (SPEC §12); each holds the
job's lock like its command does."""

import logging

from celery import shared_task

from car_rental_system.joblock import lock_held_message, single_run
from rentals import ops, services

logger = logging.getLogger(__name__)


@shared_task(name="rentals.tasks.update_expired_rentals", acks_late=True)
def update_expired_rentals() -> dict | None:
    with single_run("update_expired_rentals") as acquired:
        if not acquired:
            logger.info(lock_held_message("update_expired_rentals"))
            return None
        return services.advance_statuses(batch_size=1000)


@shared_task(name="rentals.tasks.update_historical_orders", acks_late=True)
def update_historical_orders() -> int | None:
    with single_run("update_historical_orders") as acquired:
        if not acquired:
            logger.info(lock_held_message("update_historical_orders"))
            return None
        return ops.update_historical_orders().scanned
