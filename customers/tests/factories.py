import factory
from django.contrib.auth import get_user_model

from customers.models import Customer

TEST_PASSWORD = "Rent-a-car-2026"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffUserFactory(UserFactory):
    is_staff = True


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"客户{n}")
    phone = factory.Sequence(lambda n: f"138{n:08d}")
    id_card_number = factory.Sequence(lambda n: f"310101199001{n:06d}")
    driver_license_number = factory.Sequence(lambda n: f"DL{n:08d}")
    member_level = Customer.MemberLevel.REGULAR


class WalkInCustomerFactory(CustomerFactory):
    """A customer created at the counter, with no login."""

    user = None
