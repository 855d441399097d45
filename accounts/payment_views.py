from django.http import Http404


def _todo(request, *args, **kwargs):  # placeholder until the page is built
    raise Http404("not built yet")


pay = _todo
sandbox_checkout = _todo
payment_return = _todo
callback = _todo
