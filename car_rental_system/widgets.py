"""Form widgets shared by the apps."""

from typing import Any

from django import forms

# The value format of <input type="datetime-local"> (whole minutes).
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class DateTimeLocalInput(forms.DateTimeInput):
    """``<input type="datetime-local">``; the value is read in the current time
    zone (Asia/Shanghai), as Django's DateTimeField does for naive input."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format=DATETIME_LOCAL)
