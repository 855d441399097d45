"""The rental policy (SPEC §19): versioned terms of cancelling, no-shows and
early returns. A booking keeps the version in force when it was made
(``Rental.policy``); a version a booking points to never changes, so staff
change the terms by adding a version."""

from datetime import UTC, datetime

from django.core.validators import MaxValueValidator
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rentals.exceptions import RentalError

# Version 1 (from the migration, or created on first use) is in force from here on.
FIRST_EFFECTIVE_FROM = datetime(2000, 1, 1, tzinfo=UTC)


class PolicyInUse(RentalError):
    """A policy version a booking points to can't be changed or deleted."""


class CancellationPolicyQuerySet(models.QuerySet):
    def in_force(self, now: datetime | None = None) -> "CancellationPolicy":
        """The version in force at ``now``: the latest with ``effective_from`` ≤
        now (the higher version when two start together). With no version in
        the table, version 1 with the defaults, created now; with versions
        that all start later, the earliest of them."""
        now = now or timezone.now()
        current = self.filter(effective_from__lte=now).order_by("-effective_from", "-version").first()
        if current is not None:
            return current
        earliest = self.order_by("effective_from", "version").first()
        if earliest is not None:
            return earliest
        try:
            with transaction.atomic():
                return self.create(version=1, effective_from=FIRST_EFFECTIVE_FROM)
        except IntegrityError:  # created meanwhile by another booking
            return self.get(version=1)


class CancellationPolicy(models.Model):
    version = models.PositiveIntegerField(_("version"), unique=True)
    effective_from = models.DateTimeField(_("in force from"), default=timezone.now)
    free_until_hours = models.PositiveIntegerField(
        _("free cancellation until (hours before pick-up)"),
        default=24,
        validators=[MaxValueValidator(24 * 365)],
    )
    late_cancel_fee_days = models.PositiveSmallIntegerField(
        _("late cancellation fee (days of rent)"), default=1, validators=[MaxValueValidator(90)]
    )
    no_show_fee_days = models.PositiveSmallIntegerField(
        _("no-show fee (days of rent)"), default=1, validators=[MaxValueValidator(90)]
    )
    early_return_fee_percent = models.PositiveSmallIntegerField(
        _("early return fee (percent of the unused days' rent)"), default=20, validators=[MaxValueValidator(100)]
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = CancellationPolicyQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        verbose_name = _("cancellation policy")
        verbose_name_plural = _("cancellation policies")

    def __str__(self) -> str:
        return _("Policy version %(version)s") % {"version": self.version}

    def save(self, *args, **kwargs):
        if not self._state.adding:
            self._refuse_if_used()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self._refuse_if_used()
        return super().delete(*args, **kwargs)

    @property
    def is_used(self) -> bool:
        """Whether a booking points to this version (then it is fixed for good)."""
        return self.pk is not None and self.rentals.exists()

    def _refuse_if_used(self) -> None:
        if self.is_used:
            raise PolicyInUse(
                _("Policy version %(version)s applies to bookings and can't be changed or deleted; add a new version.")
                % {"version": self.version},
                code="policy_in_use",
            )
