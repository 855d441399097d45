"""The rental flows of SPEC §5: booking, status by time, cancelling and
returning. They call the money primitives of ``accounts.services`` (refund
what is due, cancel open charges, notify); ``accounts`` never calls back into
this package. Each module holds one flow with the rules it checks (they raise);
the reads are in ``rentals.selectors``.

Each public function runs in one ``transaction.atomic`` block and locks rows in
the fixed order customer → client address → vehicle → rental → payment
(``rentals/locks.py``)
before it reads money. Any failure rolls the whole flow back. Rule violations
raise ``ValidationError`` subclasses (``rentals.exceptions``) with a message a
person can read, and change nothing.
"""

from rentals.selectors import overlapping_rentals, unpaid_bookings  # noqa: F401  (reads, kept under their old name)
from rentals.services.booking import (  # noqa: F401
    _local,
    create_rental,
    max_rental_days,
    validate_booking_times,
)
from rentals.services.cancellation import (  # noqa: F401
    cancel_rental,
    check_cancellation,
)
from rentals.services.car_checks import CheckInput, pickup_check_of  # noqa: F401
from rentals.services.handover import (  # noqa: F401
    RETURN_FIELDS,
    PickupPlan,
    pickup_rental,
    plan_pickup,
    prepare_return,
    process_return,
)
from rentals.services.previews import (  # noqa: F401
    CancelPreview,
    ReturnPreview,
    cancel_preview,
    return_preview,
)
from rentals.services.statuses import (  # noqa: F401
    LAPSE_REASON,
    STATUS_REFRESH_CACHE_KEY,
    _lapse_locked,
    advance_rental_status,
    advance_statuses,
    lapse_unpaid_bookings,
    refresh_statuses_if_due,
)
from rentals.services.transitions import (  # noqa: F401
    MoveRow,
    _actor,
    _occupy_vehicle,
    _release_vehicle,
    move_by_time,
    move_many_by_time,
    notice_on_entering,
    record_rental_event,
    transition_rental,
)
