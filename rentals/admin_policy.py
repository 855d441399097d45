"""The rental policy in the admin (SPEC §19): staff add versions; a version a
booking points to is shown read-only and can't be deleted (the model refuses
too, ``CancellationPolicy.save``/``delete``)."""

from django.contrib import admin, messages
from django.db.models import Max
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rentals.policies import CancellationPolicy

POLICY_FIELDS = (
    "version",
    "effective_from",
    "free_until_hours",
    "late_cancel_fee_days",
    "no_show_fee_days",
    "early_return_fee_percent",
    "created_at",
)


@admin.register(CancellationPolicy)
class CancellationPolicyAdmin(admin.ModelAdmin):
    list_display = (*POLICY_FIELDS[:-1], "bookings")
    ordering = ("-version",)
    fields = POLICY_FIELDS
    # Bulk delete would bypass the per-row rule; a version is deleted from its page.
    actions = None

    @admin.display(description=gettext_lazy("bookings on it"))
    def bookings(self, obj: CancellationPolicy) -> int:
        return obj.rentals.count()

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_used:
            return POLICY_FIELDS
        return ("created_at",)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        latest = CancellationPolicy.objects.aggregate(latest=Max("version"))["latest"] or 0
        initial.setdefault("version", latest + 1)
        return initial

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if obj is not None and obj.is_used and request.method == "POST":
            return self._refuse(request, obj)
        if obj is not None and obj.is_used:
            # Fixed for good: nothing to save, nothing to delete.
            extra_context.update(
                show_save=False, show_save_and_continue=False, show_save_and_add_another=False, show_delete=False
            )
            messages.info(
                request,
                _(
                    "Bookings use this version, so it can't be changed or deleted. Add a new version to change the terms."
                ),
            )
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is not None and obj.is_used:
            return self._refuse(request, obj)
        return super().delete_view(request, object_id, extra_context=extra_context)

    def _refuse(self, request, obj: CancellationPolicy) -> HttpResponseRedirect:
        messages.error(
            request,
            _("Policy version %(version)s applies to bookings and can't be changed or deleted; add a new version.")
            % {"version": obj.version},
        )
        return HttpResponseRedirect(reverse("admin:rentals_cancellationpolicy_change", args=[obj.pk]))
