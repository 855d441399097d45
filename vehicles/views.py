from django.http import Http404


def _todo(request, *args, **kwargs):  # placeholder until the page is built
    raise Http404("not built yet")


vehicle_list = _todo
vehicle_detail = _todo
