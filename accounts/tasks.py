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


@shared_task(bind=True, name="accounts.tasks.send_abnormal_refund", acks_late=True, max_retries=12)
def send_abnormal_refund(self, refund_id: int, resolution: str, card: dict | None = None) -> str:
    """Staff's resolution of an abnormal refund (SPEC §17); ``card`` holds
    ciphertexts only, readable by the provider alone."""
    try:
        return services.send_abnormal_refund(refund_id=refund_id, resolution=resolution, card=card)
    except ProviderUnavailable as exc:
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from None


@shared_task(bind=True, name="accounts.tasks.close_charge", acks_late=True, max_retries=12)
def close_charge(self, payment_id: int) -> str:
    """Close a charge we expire or cancel at its provider (SPEC §17)."""
    try:
        return services.close_at_provider(payment_id=payment_id)
    except ProviderUnavailable as exc:
        # Still closing: asked again later, and by sync_payments meanwhile.
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


RECONCILE_RETRY_SECONDS = 30 * 60


@shared_task(bind=True, name="accounts.tasks.reconcile_payments", acks_late=True, max_retries=6)
def reconcile_payments(self, day: str | None = None) -> dict | None:
    """Yesterday's (Asia/Shanghai) reconciliation of every configured provider
    (SPEC §14), daily at 10:00 when the statements are out. A provider whose
    statement can't be had yet is asked again in 30 minutes; a statement that
    can't be used is logged (nothing is stored for it). Never changes money."""
    from datetime import date, timedelta

    from accounts.finance import local_today
    from accounts.providers import ProviderError
    from accounts.reconciliation import service
    from accounts.reconciliation.parsers import StatementError

    statement_day = date.fromisoformat(day) if day else local_today() - timedelta(days=1)
    results: dict[str, object] = {}
    unavailable = False
    with single_run("reconcile_payments") as acquired:
        if not acquired:
            logger.info(lock_held_message("reconcile_payments"))
            return None
        for provider in service.configured_providers():
            try:
                run = service.reconcile(
                    provider=provider, day=statement_day, data=service.fetch_statement(provider, statement_day)
                )
            except ProviderUnavailable as exc:
                unavailable = True
                results[provider] = f"unavailable: {exc}"
                logger.warning("reconcile_payments %s %s: statement unavailable (%s)", provider, statement_day, exc)
            except (ProviderError, StatementError) as exc:
                results[provider] = f"error: {exc}"
                logger.error("reconcile_payments %s %s: %s", provider, statement_day, exc)
            else:
                results[provider] = service.open_discrepancies(run)
                if results[provider]:
                    logger.warning(
                        "reconcile_payments %s %s: %s open discrepancies", provider, statement_day, results[provider]
                    )
    if (
        unavailable
        and self.request.retries < self.max_retries
        and not (self.request.is_eager or self.request.called_directly)
    ):
        raise self.retry(args=[statement_day.isoformat()], countdown=RECONCILE_RETRY_SECONDS)
    return results
