"""Row locks for the rental flows, in the one order every flow uses:
customer → client address → vehicle → rental → payment. Taking them in this
order everywhere means two flows can never wait on each other in a cycle.

On SQLite ``select_for_update`` is a no-op; there every atomic block starts
with BEGIN IMMEDIATE (see settings), which serialises writers instead.
"""

import hashlib

from django.db import connection

from customers.models import Customer
from rentals.models import Rental
from vehicles.models import Vehicle


def lock_customer(customer_id) -> Customer:
    return Customer.objects.select_for_update().get(pk=customer_id)


def lock_client_ip(client_ip: str) -> None:
    """The client address of a booking, for the rest of the transaction: a
    PostgreSQL transaction-level advisory lock on the address (there is no row
    to lock for it), released at commit or rollback. Bookings from one
    address are serialised however many customers make them."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(f"car_rental.client_ip.{client_ip}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])


def lock_vehicle(vehicle_id) -> Vehicle:
    return Vehicle.objects.select_for_update().get(pk=vehicle_id)


def lock_rental(rental_id) -> Rental:
    """The rental row, locked, with its car and customer loaded (not locked)."""
    return (
        Rental.objects.select_for_update(of=("self",))
        .select_related("vehicle", "customer", "customer__user")
        .get(pk=rental_id)
    )


def lock_rental_row(rental_id) -> Rental:
    """The rental row, locked, and nothing joined (a payment callback needs no more)."""
    return Rental.objects.select_for_update().get(pk=rental_id)


# --- many rows at once (the batch jobs) ------------------------------------------------


def lock_vehicles(vehicle_ids) -> None:
    """Lock these cars, in primary-key order (every batch takes them the same way)."""
    list(Vehicle.objects.select_for_update().filter(pk__in=sorted(set(vehicle_ids))).order_by("pk").values_list("pk"))


def lock_rental_rows(rentals, *fields: str) -> list[tuple]:
    """Lock the rentals of a queryset in primary-key order (their cars locked
    before, by the caller) and read ``fields`` of each under the lock."""
    return list(rentals.select_for_update(of=("self",)).order_by("pk").values_list(*fields))
