"""Thin Celery tasks of the payment flows (SPEC §12): each loads by id (or
nothing) and calls a service. All acknowledge late and are safe to run twice;
only provider errors that may pass (network, 5xx, unverifiable answers) are
retried, with exponential backoff."""

import logging

from celery import shared_task

from accounts import services
from accounts.providers import ProviderUnavailable
from car_rental_system.joblock import lock_held_message, single_run

logger = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 60 * 60


def backoff_seconds(retries: int) -> int:
    """30 s, 60 s, 120 s … at most an hour."""
    return min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**retries)


@shared_task(bind=True, name="accounts.tasks.send_refund", acks_late=True, max_retries=12)
def send_refund(self, refund_id: int) -> str:
    try:
        return services.send_refund(refund_id=refund_id)
    except ProviderUnavailable as exc:
        # The provider may have acted: never conclude anything, ask again later
        # (same REF id, so it pays once); sync_payments queries it meanwhile.
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from None


@shared_task(name="accounts.tasks.expire_payments", acks_late=True)
def expire_payments() -> int | None:
    with single_run("expire_payments") as acquired:
        if not acquired:
            logger.info(lock_held_message("expire_payments"))
            return None
        return len(services.expire_stale_payments())


@shared_task(name="accounts.tasks.sync_payments", acks_late=True)
def sync_payments() -> int | None:
    with single_run("sync_payments") as acquired:
        if not acquired:
            logger.info(lock_held_message("sync_payments"))
            return None
        return len(services.sync_payments())
