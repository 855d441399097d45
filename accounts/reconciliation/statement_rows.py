"""What every statement parser shares: the row it yields, the errors it
raises, and the readers of money, times and columns (SPEC §14)."""

import re
import zlib
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

CHARGE, REFUND = "charge", "refund"
# What a statement row says happened to the money.
SUCCEEDED, IN_PROGRESS, FAILED = "succeeded", "in_progress", "failed"

SHANGHAI = ZoneInfo("Asia/Shanghai")
PROVIDER_LABELS = {"alipay": "Alipay", "wechatpay": "WeChat Pay", "sandbox": "sandbox"}

_MONEY = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,2})?")
_FEE = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,6})?")
_COUNT = re.compile(r"[0-9]{1,9}")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class StatementRow(NamedTuple):
    kind: str  # CHARGE | REFUND
    transaction_id: str  # our out_trade_no / out_refund_no / out_request_no
    amount: Decimal  # positive, yuan, two decimals
    status: str  # SUCCEEDED | IN_PROGRESS | FAILED
    raw_status: str  # as the provider wrote it
    completed_at: datetime | None
    fee: Decimal


class StatementError(Exception):
    """A statement we can't use; nothing is stored."""


class WrongProvider(StatementError):
    pass


class WrongDay(StatementError):
    pass


class WrongMerchant(StatementError):
    """A statement of another merchant account than ours (SPEC §17)."""


class TruncatedStatement(StatementError):
    pass


# --- detection ----------------------------------------------------------------------

ALIPAY_DETAIL_TITLE = "#支付宝业务明细查询"
ALIPAY_SUMMARY_TITLE = "#支付宝业务汇总查询"
WECHAT_HEADER_START = "交易时间,"
SANDBOX_TITLE = "# sandbox statement"
SANDBOX_HEADER = ["transaction_id", "type", "status", "amount", "fee", "completed_at"]


# --- shared helpers -------------------------------------------------------------------

MAX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024


def gunzipped(data: bytes) -> bytes:
    """A bill downloaded with ``tar_type=GZIP`` (WeChat Pay) is read as the file inside."""
    if not data.startswith(b"\x1f\x8b"):
        return data
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, MAX_UNCOMPRESSED_BYTES)
    except zlib.error:
        raise TruncatedStatement("The gzip statement is damaged.") from None
    if inflater.unconsumed_tail:
        raise StatementError("The gzip statement is larger than a statement can be.")
    if not inflater.eof:
        raise TruncatedStatement("The gzip statement is cut.")
    return out


def read_money(value: str, *, column: str, line: int, pattern=_MONEY) -> Decimal:
    if not pattern.fullmatch(value):
        raise StatementError(f"Line {line}: {column} is not an amount in yuan: {value[:30]!r}.")
    return Decimal(value)


def read_time(value: str, *, column: str, line: int) -> datetime:
    try:
        return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=SHANGHAI)
    except ValueError:
        raise StatementError(f"Line {line}: {column} is not a time: {value[:30]!r}.") from None


def column_index(header: list[str], required: tuple[str, ...], *, what: str) -> dict[str, int]:
    index = {name: i for i, name in enumerate(header)}
    missing = [name for name in required if name not in index]
    if missing:
        raise StatementError(f"The {what} header lacks the column(s) {', '.join(missing)}.")
    return index


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
    return start, start + timedelta(days=1)


# --- Alipay ---------------------------------------------------------------------------
