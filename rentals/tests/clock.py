"""The fixed moment of the booking-flow tests: 2026-03-01 09:00 in Shanghai, a
three-day booking starting the next day. The fixtures ``frozen_clock``
and ``booked_rental`` (root ``conftest.py``) put the clock and a booking there."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
START = NOW + timedelta(days=1)
END = START + timedelta(days=3)
