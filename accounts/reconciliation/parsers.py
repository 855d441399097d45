"""Providers' daily statements, read row by row (SPEC §14).

Pure functions over the bytes a provider's bill API gives (no database).
:func:`parse_statement` checks whose statement it is and which day it covers,
then yields one :class:`StatementRow` per charge or refund; the totals a
statement carries at its end are checked once every row has been read, so a
truncated file raises before anyone acts on it. Every problem is a
:class:`StatementError` with a message a person can act on.

Layouts:

* **Alipay** trade-detail bill (业务明细), as the URL of
  ``alipay.data.dataservice.bill.downloadurl.query`` gives it: a zip holding
  GBK CSV files, ``<pid>_<yyyymmdd>_业务明细.csv`` (the rows) and
  ``…_业务明细(汇总).csv`` (a summary, ignored). ``#`` comment lines come
  before the table (``#起始日期：[yyyy年mm月dd日 00:00:00]   终止日期：[…]``)
  and after it (``#-----…业务明细列表结束…``, ``#交易合计：N笔，商家实收共X元…``,
  ``#退款合计：N笔，商家实收退款共-X元…``). 业务类型 交易 is a charge (商户订单号
  = our ``out_trade_no``), 退款 a refund (退款批次号/请求号 = our
  ``out_request_no``, amounts negative). Values may end with a tab.
* **WeChat Pay** trade bill (``/v3/bill/tradebill``, ``bill_type=ALL``): UTF-8
  CSV, a header line, rows whose every value starts with a backtick, then
  ``总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额``
  and one line of totals. 交易状态 SUCCESS is a charge (商户订单号, 订单金额),
  REFUND a refund (商户退款单号, 申请退款金额, 退款状态 SUCCESS / PROCESSING /
  ABNORMAL / CLOSED as of when the bill was made), REVOKED a charge given back.
* **Sandbox**: see ``SANDBOX_HEADER`` and the README.

Money is read exactly from the yuan strings into Decimals.
"""

import csv
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

from accounts.reconciliation.statement_rows import (
    _FEE,
    _TIME_FORMAT,
    ALIPAY_DETAIL_TITLE,
    ALIPAY_SUMMARY_TITLE,
    CHARGE,
    FAILED,
    IN_PROGRESS,
    PROVIDER_LABELS,
    REFUND,
    SANDBOX_HEADER,
    SANDBOX_TITLE,
    SHANGHAI,
    SUCCEEDED,
    WECHAT_HEADER_START,
    StatementError,
    StatementRow,
    TruncatedStatement,
    WrongDay,
    WrongMerchant,
    WrongProvider,
    column_index,
    day_bounds,
    gunzipped,
    read_money,
    read_time,
)
from accounts.reconciliation.wechat_bill import parse_wechatpay
from car_rental_system.money import quantize_money


def detect_provider(data: bytes) -> str | None:
    """Whose statement ``data`` looks like: ``alipay``, ``wechatpay``, ``sandbox`` or None."""
    head = data[:64].removeprefix(b"\xef\xbb\xbf")
    if head.startswith((b"PK\x03\x04", "#支付宝".encode("gbk"), "#支付宝".encode())):  # the zip, or its CSV
        return "alipay"
    if head.startswith(WECHAT_HEADER_START.encode()):
        return "wechatpay"
    if head.startswith(SANDBOX_TITLE.encode()):
        return "sandbox"
    return None


def parse_statement(provider: str, data: bytes, *, day: date, merchant: str = "") -> Iterator[StatementRow]:
    """The rows of ``provider``'s statement of ``day``; raises :class:`StatementError`.

    ``merchant``: our merchant account at that provider (WeChat Pay mchid,
    Alipay PID); a statement of another one raises :class:`WrongMerchant`.
    Empty: not checked."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise StatementError("The statement is empty.")
    data = gunzipped(bytes(data))
    detected = detect_provider(data)
    if detected is None:
        raise StatementError(
            "This is not a statement of Alipay (a zip or its 业务明细 CSV), WeChat Pay (a trade bill CSV) "
            "or the sandbox."
        )
    if detected != provider:
        raise WrongProvider(
            f"This is a {PROVIDER_LABELS[detected]} statement, not a {PROVIDER_LABELS.get(provider, provider)} one."
        )
    return PARSERS[provider](bytes(data), day, merchant)


ALIPAY_COLUMNS = (
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "完成时间",
    "订单金额（元）",
    "商家实收（元）",
    "退款批次号/请求号",
    "服务费（元）",
)
_ALIPAY_PERIOD = re.compile(
    r"起始日期[：:]\s*\[(\d{4})年(\d{2})月(\d{2})日[^\]]*\]\s*终止日期[：:]\s*\[(\d{4})年(\d{2})月(\d{2})日"
)
_ALIPAY_ACCOUNT = re.compile(r"#账号[：:]\s*\[\s*([^\]]*?)\s*\]")
# The account an Alipay bill names is the PID followed by a four-digit account-type suffix (…0156).
ALIPAY_ACCOUNT_SUFFIX_DIGITS = 4
_ALIPAY_TRADE_TOTAL = re.compile(r"交易合计[：:]\s*(\d+)\s*笔[，,]\s*商家实收共\s*(-?[\d.]+)\s*元")
_ALIPAY_REFUND_TOTAL = re.compile(r"退款合计[：:]\s*(\d+)\s*笔[，,]\s*商家实收退款共\s*(-?[\d.]+)\s*元")


def _zip_member_name(info: zipfile.ZipInfo) -> str:
    """Alipay writes GBK file names without the zip's UTF-8 flag."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _alipay_text(data: bytes) -> io.TextIOBase:
    if not data.startswith(b"PK"):
        # As downloaded it is GBK; a copy someone saved again as UTF-8 is read too.
        encoding = "utf-8-sig" if data.removeprefix(b"\xef\xbb\xbf").startswith("#支付宝".encode()) else "gb18030"
        return io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, EOFError, ValueError):
        raise TruncatedStatement("The Alipay zip is damaged or truncated.") from None
    summary_only = False
    for info in members:
        name = _zip_member_name(info)
        if not name.lower().endswith(".csv"):
            continue
        try:
            with archive.open(info) as member:
                first = member.readline(256).decode("gb18030", errors="replace").strip().lstrip("\ufeff")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
            raise TruncatedStatement(f"The Alipay zip member {name} is damaged or truncated.") from None
        if first.startswith(ALIPAY_DETAIL_TITLE) or (
            name.endswith("_业务明细.csv") and not first.startswith(ALIPAY_SUMMARY_TITLE)
        ):
            return io.TextIOWrapper(archive.open(info), encoding="gb18030", newline="")
        summary_only = summary_only or first.startswith(ALIPAY_SUMMARY_TITLE)
    if summary_only:
        raise StatementError("The Alipay zip holds only the summary (业务明细(汇总)), not the detail (业务明细).")
    raise StatementError("The Alipay zip holds no 业务明细 CSV file.")


def _normalise_alipay_header(names: list[str]) -> list[str]:
    return [name.strip().replace("(", "（").replace(")", "）") for name in names]


def _check_alipay_account(account: str | None, pid: str) -> None:
    """The bill's #账号 is our PID (``ALIPAY_PID``), bare or with Alipay's account suffix."""
    if account is None:
        raise WrongMerchant(
            f"The Alipay statement does not name its account (#账号), so it can't be told ours (ALIPAY_PID {pid})."
        )
    suffix = account[len(pid) :]
    if not account.startswith(pid) or not (
        suffix == "" or (len(suffix) == ALIPAY_ACCOUNT_SUFFIX_DIGITS and suffix.isdigit())
    ):
        raise WrongMerchant(f"This Alipay statement is of the account {account[:32]}, not ours (ALIPAY_PID {pid}).")


def parse_alipay(data: bytes, day: date, merchant: str = "") -> Iterator[StatementRow]:
    """The bill's rows; with ``merchant`` (our PID) the account it names must be ours."""
    text = _alipay_text(data)
    account: str | None = None
    start, end = day_bounds(day)
    columns: dict[str, int] | None = None
    width = 0
    period_seen = ended = False
    counts = {CHARGE: 0, REFUND: 0}
    received = {CHARGE: Decimal(0), REFUND: Decimal(0)}
    totals: dict[str, tuple[int, Decimal]] = {}
    line_no = 0
    try:
        for raw in text:
            line_no += 1
            line = raw.rstrip("\r\n").lstrip("\ufeff")
            if not line.strip():
                continue
            if line.startswith("#"):
                if line_no == 1 and line.startswith(ALIPAY_SUMMARY_TITLE):
                    raise StatementError("This is the Alipay summary (业务明细(汇总)); give the detail (业务明细).")
                if columns is None and (found := _ALIPAY_ACCOUNT.match(line)) is not None:
                    account = found[1]
                elif (found := _ALIPAY_PERIOD.search(line)) is not None:
                    period_seen = True
                    first = date(int(found[1]), int(found[2]), int(found[3]))
                    last = date(int(found[4]), int(found[5]), int(found[6]))
                    if first != day or last != day + timedelta(days=1):
                        raise WrongDay(
                            f"This Alipay statement covers {first.isoformat()} to {last.isoformat()}, "
                            f"not {day.isoformat()}."
                        )
                elif columns is not None and "业务明细列表结束" in line:
                    ended = True
                elif ended and (found := _ALIPAY_TRADE_TOTAL.search(line)) is not None:
                    totals[CHARGE] = (int(found[1]), Decimal(found[2]))
                elif ended and (found := _ALIPAY_REFUND_TOTAL.search(line)) is not None:
                    totals[REFUND] = (int(found[1]), Decimal(found[2]))
                continue
            if ended:
                raise StatementError(f"Line {line_no}: a row after the end of the table.")
            fields = [value.strip().strip("\t").strip() for value in next(csv.reader([line]))]
            if columns is None:
                header = _normalise_alipay_header(fields)
                if header[:1] != ["支付宝交易号"]:
                    raise StatementError(f"Line {line_no}: expected the 业务明细 header, found {line[:40]!r}.")
                if not period_seen:
                    raise StatementError("The Alipay statement does not say which day it covers (#起始日期).")
                if merchant:
                    _check_alipay_account(account, merchant)
                columns = column_index(header, ALIPAY_COLUMNS, what="Alipay 业务明细")
                width = len(header)
                continue
            if len(fields) != width:
                raise TruncatedStatement(
                    f"Line {line_no} has {len(fields)} values, the header {width}: the file is cut or damaged."
                )
            row = _alipay_row(fields, columns, line_no, start, end)
            counts[row.kind] += 1
            received[row.kind] += read_money(fields[columns["商家实收（元）"]], column="商家实收（元）", line=line_no)
            yield row
    except UnicodeDecodeError:
        raise StatementError(f"Line {line_no + 1}: the Alipay statement is not GBK text (or it is cut).") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise TruncatedStatement(f"The Alipay zip is damaged or truncated ({exc}).") from None
    if columns is None:
        raise StatementError("The Alipay statement has no 业务明细 table.")
    if not ended:
        raise TruncatedStatement("The Alipay statement ends before 业务明细列表结束: the file is cut.")
    for kind, label in ((CHARGE, "交易合计"), (REFUND, "退款合计")):
        if kind not in totals:
            raise TruncatedStatement(f"The Alipay statement has no #{label} line after its table: the file is cut.")
        if totals[kind] != (counts[kind], received[kind]):
            expected_count, expected_sum = totals[kind]
            raise TruncatedStatement(
                f"The Alipay statement's {label} says {expected_count} rows and {expected_sum} yuan, "
                f"its rows make {counts[kind]} and {received[kind]}."
            )


def _alipay_row(fields, columns, line_no, start, end) -> StatementRow:
    kind_label = fields[columns["业务类型"]]
    amount = read_money(fields[columns["订单金额（元）"]], column="订单金额（元）", line=line_no)
    fee = read_money(fields[columns["服务费（元）"]] or "0", column="服务费（元）", line=line_no, pattern=_FEE)
    completed = read_time(fields[columns["完成时间"]], column="完成时间", line=line_no)
    if not start <= completed < end:
        raise WrongDay(f"Line {line_no}: completed at {completed:%Y-%m-%d %H:%M:%S}, outside the statement's day.")
    if kind_label == "交易":
        kind, transaction_id = CHARGE, fields[columns["商户订单号"]]
    elif kind_label == "退款":
        kind = REFUND
        transaction_id = fields[columns["退款批次号/请求号"]] or fields[columns["商户订单号"]]
        amount = -amount
    else:
        raise StatementError(f"Line {line_no}: unknown 业务类型 {kind_label[:20]!r}.")
    if amount <= 0 or not transaction_id:
        raise StatementError(f"Line {line_no}: a {kind_label} row needs an order number and a non-zero amount.")
    return StatementRow(kind, transaction_id, amount, SUCCEEDED, kind_label, completed, fee)


# --- WeChat Pay -------------------------------------------------------------------------


SANDBOX_STATUSES = {
    "succeeded": SUCCEEDED,
    "refunded": SUCCEEDED,
    "pending": IN_PROGRESS,
    "refund_failed": FAILED,
}


def build_sandbox_statement(day: date, rows) -> bytes:
    """The sandbox statement of ``day``: ``rows`` of (transaction_id, kind, status, amount, fee, completed_at)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    out.write(f"{SANDBOX_TITLE},{day.isoformat()}\n")
    writer.writerow(SANDBOX_HEADER)
    count, charges, refunds = 0, Decimal("0.00"), Decimal("0.00")
    for transaction_id, kind, status, amount, fee, completed_at in rows:
        amount = quantize_money(amount)
        completed = completed_at.astimezone(SHANGHAI).strftime(_TIME_FORMAT) if completed_at else ""
        writer.writerow([transaction_id, kind, status, f"{amount:.2f}", f"{Decimal(fee):.2f}", completed])
        count += 1
        if kind == CHARGE:
            charges += amount
        else:
            refunds += amount
    out.write(f"# end,{count},{charges:.2f},{refunds:.2f}\n")
    return out.getvalue().encode()


def parse_sandbox(data: bytes, day: date, merchant: str = "") -> Iterator[StatementRow]:
    """The sandbox's rows (it has one merchant: ``merchant`` is not used)."""
    start, end = day_bounds(day)
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    header_seen = False
    footer = None
    count, sums = 0, {CHARGE: Decimal(0), REFUND: Decimal(0)}
    line_no = 0
    try:
        for raw in text:
            line_no += 1
            line = raw.rstrip("\r\n")
            if not line:
                continue
            if footer is not None:
                raise StatementError(f"Line {line_no}: text after the sandbox statement's end line.")
            if line_no == 1:
                title, _, stated = line.partition(",")
                if title != SANDBOX_TITLE:
                    raise StatementError("The sandbox statement must start with '# sandbox statement,<day>'.")
                try:
                    stated_day = date.fromisoformat(stated.strip())
                except ValueError:
                    raise StatementError("The sandbox statement's first line does not give its day.") from None
                if stated_day != day:
                    raise WrongDay(f"This sandbox statement is of {stated_day.isoformat()}, not {day.isoformat()}.")
                continue
            if line.startswith("# end,"):
                footer = line.split(",")
                continue
            fields = next(csv.reader([line]))
            if not header_seen:
                if fields != SANDBOX_HEADER:
                    raise StatementError(f"Line {line_no}: expected the header {','.join(SANDBOX_HEADER)}.")
                header_seen = True
                continue
            if len(fields) != len(SANDBOX_HEADER):
                raise TruncatedStatement(f"Line {line_no} has {len(fields)} values, the header {len(SANDBOX_HEADER)}.")
            transaction_id, kind, status, amount, fee, completed = fields
            if kind not in (CHARGE, REFUND) or status not in SANDBOX_STATUSES or not transaction_id:
                raise StatementError(f"Line {line_no}: unknown type or status ({kind[:20]!r}, {status[:20]!r}).")
            value = read_money(amount, column="amount", line=line_no)
            if value <= 0:
                raise StatementError(f"Line {line_no}: the amount must be positive.")
            at = read_time(completed, column="completed_at", line=line_no) if completed else None
            if at is not None and not start <= at < end:
                raise WrongDay(f"Line {line_no}: completed at {completed}, outside the statement's day.")
            count += 1
            sums[kind] += value
            yield StatementRow(
                kind,
                transaction_id,
                value,
                SANDBOX_STATUSES[status],
                status,
                at,
                read_money(fee or "0", column="fee", line=line_no, pattern=_FEE),
            )
    except UnicodeDecodeError:
        raise StatementError("The sandbox statement is not UTF-8 text.") from None
    if not header_seen:
        raise StatementError("The sandbox statement has no header.")
    if footer is None:
        raise TruncatedStatement("The sandbox statement ends before its '# end' line: the file is cut.")
    if footer[1:] != [str(count), f"{sums[CHARGE]:.2f}", f"{sums[REFUND]:.2f}"]:
        raise TruncatedStatement("The sandbox statement's end line does not match its rows.")


PARSERS = {"alipay": parse_alipay, "wechatpay": parse_wechatpay, "sandbox": parse_sandbox}
