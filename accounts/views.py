from django.http import Http404


def _todo(request, *args, **kwargs):  # placeholder until the page is built
    raise Http404("not built yet")


register = _todo
login_view = _todo
logout_view = _todo
order_list = _todo
order_detail = _todo
review = _todo
consumption_report = _todo
notifications = _todo
notification_read = _todo
notifications_read_all = _todo
