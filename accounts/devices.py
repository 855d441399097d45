"""What kind of device a request comes from."""

import re

# Phones (not tablets): they get the providers' mobile flows (Alipay WAP pay,
# WeChat Pay H5) instead of the desktop ones.
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Android|Windows Phone|HarmonyOS|OpenHarmony|MicroMessenger|AlipayClient", re.I)


def is_mobile(request) -> bool:
    """Whether the request's User-Agent is a phone's."""
    return bool(_MOBILE.search(request.headers.get("User-Agent", "")[:512]))
