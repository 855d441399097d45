"""Demo data for a fresh installation: stores, cars, customers of every member
level with logins, staff users, and orders in every status with charges and
refunds. Running it again changes nothing.

The flows run now, so the money they write is dated afterwards to when it
would have happened: charges at booking time, refunds at return or
cancellation time (with their audit rows and notices). The finance dashboard's
"today" then shows only what a real day would.
"""

import logging
from contextlib import contextmanager
from datetime import time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Notification, Payment, PaymentEvent
from accounts.services import new_transaction_id, payment_note, record_counter_payment, record_payment_event
from accounts.wording import Words
from customers.models import Customer
from rentals import services as rental_services
from rentals.models import CarCheck, Rental, RentalEvent
from vehicles.demo_photos import give_demo_photo
from vehicles.models import Location, Vehicle

STAFF_PASSWORD = "Admin#2026"
CUSTOMER_PASSWORD = "Demo#2026"

# city, name, address, opens, closes (the same: open 24 hours), phone
STORES = [
    ("上海", "人民广场店", "黄浦区南京西路 1 号", time(8), time(22), "021-6350 1001"),
    ("上海", "虹桥机场店", "长宁区虹桥机场 T2 到达层", time(0), time(0), "021-6268 1002"),
    ("上海", "浦东机场店", "浦东新区浦东机场 T1 停车楼", time(0), time(0), "021-6834 1003"),
    ("北京", "国贸店", "朝阳区建国门外大街 1 号", time(8, 30), time(21), "010-6505 1004"),
    ("北京", "首都机场店", "顺义区首都机场 T3 停车楼", time(6), time(23, 30), "010-6457 1005"),
]

# plate, brand, model, year, seats, daily rate, deposit, store index
CARS = [
    ("沪A10001", "丰田", "卡罗拉", 2023, 5, "199.00", "2000.00", 0),
    ("沪A10002", "丰田", "凯美瑞", 2024, 5, "300.00", "2000.00", 0),
    ("沪A10003", "本田", "雅阁", 2024, 5, "320.00", "2000.00", 0),
    ("沪A10004", "大众", "帕萨特", 2023, 5, "280.00", "2000.00", 0),
    ("沪A10005", "特斯拉", "Model 3", 2025, 5, "450.00", "5000.00", 0),
    ("沪B20001", "比亚迪", "汉 EV", 2025, 5, "380.00", "3000.00", 1),
    ("沪B20002", "别克", "GL8", 2024, 7, "520.00", "5000.00", 1),
    ("沪B20003", "日产", "轩逸", 2023, 5, "179.00", "1500.00", 1),
    ("沪B20004", "宝马", "3 系", 2024, 5, "680.00", "8000.00", 1),
    ("沪C30001", "奥迪", "A4L", 2024, 5, "620.00", "8000.00", 2),
    ("沪C30002", "吉利", "星越 L", 2025, 5, "260.00", "2000.00", 2),
    ("沪C30003", "理想", "L8", 2025, 6, "700.00", "8000.00", 2),
    ("京A40001", "丰田", "汉兰达", 2024, 7, "480.00", "5000.00", 3),
    ("京A40002", "本田", "思域", 2023, 5, "230.00", "2000.00", 3),
    ("京A40003", "奔驰", "C 级", 2024, 5, "750.00", "10000.00", 3),
    ("京A40004", "蔚来", "ET5", 2025, 5, "520.00", "5000.00", 3),
    ("京B50001", "大众", "途观 L", 2024, 5, "350.00", "3000.00", 4),
    ("京B50002", "比亚迪", "宋 PLUS", 2025, 5, "290.00", "2000.00", 4),
    ("京B50003", "长安", "CS75", 2023, 5, "210.00", "2000.00", 4),
    ("京B50004", "小鹏", "G6", 2025, 5, "400.00", "3000.00", 4),
]

CUSTOMERS = [
    ("zhangsan", "张三", "13800000001", Customer.MemberLevel.REGULAR),
    ("lisi", "李四", "13800000002", Customer.MemberLevel.SILVER),
    ("wangwu", "王五", "13800000003", Customer.MemberLevel.GOLD),
    ("zhaoliu", "赵六", "13800000004", Customer.MemberLevel.VIP),
]

STAFF = [
    ("admin", "superuser", True, None),
    ("counter", "counter staff", False, "counter"),
    ("finance", "finance staff", False, "finance"),
]


@contextmanager
def _without_warnings(logger_name: str):
    """Silence one logger's warnings while the demo builds an expected case."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class Command(BaseCommand):
    help = "Load demo stores, cars, customers, staff and orders (idempotent)."

    def handle(self, *args, **options):
        with transaction.atomic():
            stores = self._stores()
            cars = self._cars(stores)
            staff = self._staff()
            customers = self._customers()
            walk_in, _ = Customer.objects.get_or_create(
                phone="13900000009", user=None, defaults={"name": "钱七（散客）"}
            )
            demo_customers = [*customers.values(), walk_in]
            if Rental.objects.filter(customer__in=demo_customers).exists():
                created = 0
            else:
                created = self._orders(cars, stores, customers, walk_in, staff["admin"])
                self._reconciliation()
        self._print_summary(created)

    # --- reference data -----------------------------------------------------------

    def _stores(self):
        stores = []
        for city, name, address, opens, closes, phone in STORES:
            facts = {"address": address, "opens_at": opens, "closes_at": closes, "phone": phone}
            store, created = Location.objects.get_or_create(city=city, name=name, defaults=facts)
            if not created and not (store.phone or store.opens_at):  # a store of an older demo: give it its hours
                Location.objects.filter(pk=store.pk).update(opens_at=opens, closes_at=closes, phone=phone)
            stores.append(store)
        return stores

    def _cars(self, stores):
        cars = {}
        for index, (plate, brand, model, year, seats, rate, deposit, store) in enumerate(CARS, start=1):
            car, _ = Vehicle.objects.get_or_create(
                plate_number=plate,
                defaults={
                    "brand": brand,
                    "model": model,
                    "year": year,
                    "seats": seats,
                    "daily_rate": Decimal(rate),
                    "deposit_amount": Decimal(deposit),
                    "location": stores[store],
                    "description": f"{year} 款 {brand} {model}，{seats} 座，自动挡。",
                },
            )
            give_demo_photo(car, index)
            cars[plate] = car
        return cars

    def _staff(self):
        User = get_user_model()
        users = {}
        for username, _label, is_superuser, group in STAFF:
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_staff": True, "is_superuser": is_superuser}
            )
            if created:
                user.set_password(STAFF_PASSWORD)
                user.save()
            if group:
                user.groups.add(Group.objects.get(name=group))
            users[username] = user
        return users

    def _customers(self):
        User = get_user_model()
        customers = {}
        for username, name, phone, level in CUSTOMERS:
            user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
            if created:
                user.set_password(CUSTOMER_PASSWORD)
                user.save()
            customer, _ = Customer.objects.get_or_create(
                user=user,
                defaults={
                    "name": name,
                    "phone": phone,
                    "member_level": level,
                    "id_card_number": f"31010119900101{phone[-4:]}",
                    "driver_license_number": f"DL{phone}",
                },
            )
            customers[username] = customer
        return customers

    # --- orders ---------------------------------------------------------------------

    def _paid_online(self, rental, amount, method=Payment.Method.ALIPAY, when=None):
        """A charge as the sandbox provider would have settled it, at booking time
        unless ``when`` says otherwise."""
        when = when or rental.created_at
        charge = Payment.objects.create(
            rental=rental,
            user=rental.customer.user,
            amount=amount,
            payment_method=method,
            transaction_type=Payment.TransactionType.CHARGE,
            status=Payment.Status.PAID,
            transaction_id=new_transaction_id("PAY"),
            provider="sandbox",
            provider_reference=f"SBX-{rental.pk}-{amount}",
            **payment_note(Words("online_payment")),
            paid_at=when,
            created_at=when,
        )
        record_payment_event(event="created", payment=charge, to_status=Payment.Status.PENDING, payload={"seed": True})
        record_payment_event(
            event="status_changed",
            payment=charge,
            from_status=Payment.Status.PENDING,
            to_status=Payment.Status.PAID,
            payload={"seed": True},
        )
        PaymentEvent.objects.filter(payment=charge).update(created_at=when)
        rental.refresh_financials()
        return charge

    def _date_money(self, rental, *, charges_at=None, refunds_at=None, cancelled_at=None) -> None:
        """Move what the flows just wrote to when it would have happened: the
        charges (and their audit rows) to ``charges_at``, the refunds (with their
        audit rows and notices) to ``refunds_at``, a cancellation to
        ``cancelled_at``."""
        ledger = Payment.objects.filter(rental=rental)
        if refunds_at is not None:
            # The demo's online refunds are answered by the sandbox now, not
            # after the seed commits, so that they can be dated too.
            from accounts.providers import ProviderError
            from accounts.services import send_refund

            for refund_id in ledger.filter(
                transaction_type=Payment.TransactionType.REFUND, status__in=Payment.OPEN_STATUSES
            ).values_list("pk", flat=True):
                try:
                    send_refund(refund_id=refund_id)
                except ProviderError:
                    pass  # left in progress; sync_payments finishes it
        if charges_at is not None:
            charges = ledger.filter(transaction_type=Payment.TransactionType.CHARGE)
            PaymentEvent.objects.filter(payment__in=charges).update(created_at=charges_at)
            charges.filter(paid_at__isnull=False).update(paid_at=charges_at)
            charges.update(created_at=charges_at)
        if refunds_at is not None:
            refunds = ledger.filter(transaction_type=Payment.TransactionType.REFUND)
            PaymentEvent.objects.filter(payment__in=refunds).update(created_at=refunds_at)
            refunds.update(created_at=refunds_at)
            refunds.filter(paid_at__isnull=False).update(paid_at=refunds_at)
            Notification.objects.filter(rental=rental, notification_type=Notification.Type.REFUND_ISSUED).update(
                created_at=refunds_at
            )
            Rental.objects.filter(pk=rental.pk, settled_at__isnull=False).update(settled_at=refunds_at)
            RentalEvent.objects.filter(rental=rental, event="returned").update(created_at=refunds_at)
        if cancelled_at is not None:
            Rental.objects.filter(pk=rental.pk).update(cancelled_at=cancelled_at)
            RentalEvent.objects.filter(rental=rental, event__in=["cancelled", "manual_refund_required"]).update(
                created_at=cancelled_at
            )
            Notification.objects.filter(rental=rental, notification_type=Notification.Type.ORDER_CANCELLED).update(
                created_at=cancelled_at
            )

    def _booked(self, rental, booked_at) -> None:
        """Date a booking made through create_rental (which books now) earlier."""
        Rental.objects.filter(pk=rental.pk).update(created_at=booked_at)
        RentalEvent.objects.filter(rental=rental, event="created").update(created_at=booked_at)
        rental.created_at = booked_at

    def _past_rental(self, customer, car, start, end, status, return_location=None, clerk=None):
        """An order that began in the past (booking refuses past times, so it is
        written directly, priced by Rental.save as any booking is), with the
        clerk's check of the driver and the car at its hand-over."""
        rental = Rental(
            customer=customer,
            vehicle=car,
            pickup_location=car.location,
            return_location=return_location or car.location,
            start_time=start,
            end_time=end,
            status=status,
            picked_up_at=start,
            created_at=start - timedelta(days=2),
        )
        rental.save()
        CarCheck.objects.create(
            rental=rental,
            stage=CarCheck.Stage.PICKUP,
            id_seen=True,
            licence_seen=True,
            licence_valid_until=(start + timedelta(days=5 * 365)).date(),
            mileage_km=18000 + 137 * rental.pk,
            fuel_eighths=8,
            checked_by=clerk,
            checked_at=start,
        )
        if status in Rental.ON_ROAD_STATUSES:
            car.status = Vehicle.Status.RENTED
            car.save(update_fields=["status"])
        return rental

    def _orders(self, cars, stores, customers, walk_in, admin) -> int:
        now = timezone.now().replace(minute=0, second=0, microsecond=0)
        day = timedelta(days=1)
        zhang, li, wang, zhao = (customers[k] for k in ("zhangsan", "lisi", "wangwu", "zhaoliu"))
        orders = []

        # PENDING, unpaid and fully paid.
        orders.append(
            rental_services.create_rental(
                customer=zhang,
                vehicle=cars["沪A10002"],
                start_time=now + 2 * day,
                end_time=now + 5 * day,
                pickup_location=cars["沪A10002"].location,
                return_location=cars["沪A10002"].location,
            )
        )
        paid_pending = rental_services.create_rental(
            customer=li,
            vehicle=cars["沪A10003"],
            start_time=now + 3 * day,
            end_time=now + 6 * day,
            pickup_location=cars["沪A10003"].location,
            return_location=stores[1],
        )
        self._paid_online(paid_pending, paid_pending.order_total, Payment.Method.WECHAT)
        orders.append(paid_pending)

        # ONGOING (paid) and OVERDUE (paid).
        ongoing = self._past_rental(
            wang, cars["沪B20001"], now - day, now + 2 * day, Rental.Status.ONGOING, clerk=admin
        )
        self._paid_online(ongoing, ongoing.order_total)
        overdue = self._past_rental(
            zhang, cars["京A40001"], now - 4 * day, now - day, Rental.Status.OVERDUE, clerk=admin
        )
        self._paid_online(overdue, overdue.order_total, Payment.Method.BANK)
        orders += [ongoing, overdue]

        # COMPLETED: on time (deposit refunded), late and one-way (fees from the deposit),
        # VIP late (owes the overdue fee: PARTIAL).
        history = [
            (zhang, "沪A10001", 40, 3, timedelta(0), None, Decimal("0")),
            (li, "沪B20003", 25, 2, timedelta(hours=26), stores[0], Decimal("0")),
            (wang, "京A40002", 12, 4, timedelta(minutes=30), None, Decimal("300.00")),
            (zhao, "京B50001", 8, 3, timedelta(hours=26), None, Decimal("0")),
        ]
        for customer, plate, days_ago, length, late, return_store, damage in history:
            car = cars[plate]
            start = now - days_ago * day
            rental = self._past_rental(customer, car, start, start + length * day, Rental.Status.ONGOING, clerk=admin)
            self._paid_online(rental, rental.order_total)
            rental_services.process_return(
                rental=rental,
                returned_at=rental.end_time + late,
                location=return_store or car.location,
                damage_fee=damage,
                note="演示数据" if damage else "",
                by_user=admin,
                check=rental_services.CheckInput(
                    mileage_km=18000 + 137 * rental.pk + 210 * length,
                    fuel_eighths=5,
                    condition_notes="左前门刮伤" if damage else "",
                ),
            )
            CarCheck.objects.filter(rental=rental, stage=CarCheck.Stage.RETURN).update(
                checked_at=rental.end_time + late
            )
            self._date_money(rental, refunds_at=rental.end_time + late)
            orders.append(rental)

        # CANCELLED: paid then cancelled (refunded), unpaid, and a walk-in paid in
        # cash with nobody to refund automatically (needs manual handling).
        cancelled_paid = rental_services.create_rental(
            customer=zhao,
            vehicle=cars["京A40003"],
            start_time=now + 7 * day,
            end_time=now + 9 * day,
            pickup_location=cars["京A40003"].location,
            return_location=cars["京A40003"].location,
        )
        self._booked(cancelled_paid, now - 3 * day)
        self._paid_online(cancelled_paid, cancelled_paid.order_total)
        rental_services.cancel_rental(rental=cancelled_paid, reason="行程取消")
        self._date_money(cancelled_paid, refunds_at=now - day, cancelled_at=now - day)
        cancelled_unpaid = rental_services.create_rental(
            customer=li,
            vehicle=cars["沪C30002"],
            start_time=now + 4 * day,
            end_time=now + 5 * day,
            pickup_location=cars["沪C30002"].location,
            return_location=cars["沪C30002"].location,
        )
        self._booked(cancelled_unpaid, now - 2 * day)
        rental_services.cancel_rental(rental=cancelled_unpaid, reason="改用其他车型")
        self._date_money(cancelled_unpaid, cancelled_at=now - day)
        walk_in_order = rental_services.create_rental(
            customer=walk_in,
            vehicle=cars["京B50003"],
            start_time=now + 1 * day,
            end_time=now + 2 * day,
            pickup_location=cars["京B50003"].location,
            return_location=cars["京B50003"].location,
        )
        self._booked(walk_in_order, now - 2 * day)
        record_counter_payment(
            rental=walk_in_order, amount=walk_in_order.order_total, method=Payment.Method.CASH, by_user=admin
        )
        # Nobody can receive this refund online: the order is the demo of the
        # manual-refund flow, announced in the summary rather than as a warning.
        with _without_warnings("rentals.services"):
            rental_services.cancel_rental(rental=walk_in_order, reason="客人未到店", by_user=admin)
        self._date_money(walk_in_order, charges_at=now - 2 * day, cancelled_at=now - 2 * day + timedelta(hours=3))
        orders += [cancelled_paid, cancelled_unpaid, walk_in_order]
        return len(orders)

    def _reconciliation(self) -> None:
        """Two reconciled sandbox days: the older one clean, the latest with a
        charge missing on the statement, an amount off by ¥0.01 and a charge
        we never saw. The statements are built from the demo ledger (the seed
        writes money directly, so the sandbox's own book has none of it)."""
        from accounts.finance import day_range, local_today, site_tz
        from accounts.reconciliation import service
        from accounts.reconciliation.parsers import build_sandbox_statement

        moved = Payment.objects.filter(provider="sandbox", paid_at__isnull=False).filter(
            Q(transaction_type=Payment.TransactionType.CHARGE, status=Payment.Status.PAID)
            | Q(transaction_type=Payment.TransactionType.REFUND, status=Payment.Status.REFUNDED)
        )
        tz, today = site_tz(), local_today()
        days = sorted(
            {timezone.localtime(at, tz).date() for at in moved.values_list("paid_at", flat=True)} - {today},
            reverse=True,
        )
        statements = {}
        for day in days:
            statements[day] = [
                (
                    p.transaction_id,
                    "charge" if p.transaction_type == Payment.TransactionType.CHARGE else "refund",
                    "succeeded" if p.transaction_type == Payment.TransactionType.CHARGE else "refunded",
                    p.amount,
                    Decimal("0"),
                    p.paid_at,
                )
                for p in moved.filter(paid_at__range=day_range(day, day)).order_by("paid_at", "pk")
            ]
        # The latest day with two charges or more gets the differences; the latest other day stays clean.
        messy = next((d for d in days if sum(row[1] == "charge" for row in statements[d]) >= 2), None)
        clean = next((d for d in days if d != messy), None)
        for maybe_day in (clean, messy):
            if maybe_day is None:
                continue
            day = maybe_day
            rows = statements[day]
            if day == messy:
                first, second = [i for i, row in enumerate(rows) if row[1] == "charge"][:2]
                tx, kind, status, amount, fee, at = rows[second]
                rows[second] = (tx, kind, status, amount + Decimal("0.01"), fee, at)
                del rows[first]
                noon = day_range(day, day)[0] + timedelta(hours=12)
                rows.append((new_transaction_id("PAY"), "charge", "succeeded", Decimal("88.00"), Decimal("0"), noon))
            service.reconcile(provider="sandbox", day=day, data=build_sandbox_statement(day, rows), source="demo")

    def _print_summary(self, created: int) -> None:
        write = self.stdout.write
        if created:
            write(self.style.SUCCESS(f"Demo data loaded: {created} orders."))
        else:
            write("Demo data already present; nothing changed.")
        for rental in Rental.objects.filter(requires_manual_refund=True, customer__user=None).order_by("pk"):
            write(
                f"Order #{rental.pk} (walk-in, paid in cash, then cancelled) is demo data for the manual-refund "
                'flow: find it on the admin\'s "Today at the counter" board and record its refund there.'
            )
        write("Logins (also in README.md):")
        write(f"  staff superuser   admin / {STAFF_PASSWORD}   → http://127.0.0.1:8000/admin/")
        write(f"  counter staff     counter / {STAFF_PASSWORD}")
        write(f"  finance staff     finance / {STAFF_PASSWORD}")
        for username, name, _phone, level in CUSTOMERS:
            write(f"  customer {level:<8} {username} / {CUSTOMER_PASSWORD}   ({name})")
