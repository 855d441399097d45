"""The WeChat Pay trade bill (``/v3/bill/tradebill``, ``bill_type=ALL``), read
row by row: see the layout in :mod:`accounts.reconciliation.parsers` (SPEC §14)."""

import io
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from accounts.reconciliation.statement_rows import (
    _COUNT,
    _FEE,
    _MONEY,
    CHARGE,
    FAILED,
    IN_PROGRESS,
    REFUND,
    SUCCEEDED,
    StatementError,
    StatementRow,
    TruncatedStatement,
    WrongDay,
    WrongMerchant,
    column_index,
    day_bounds,
    read_money,
    read_time,
)

WECHAT_COLUMNS = (
    "交易时间",
    "商户订单号",
    "交易状态",
    "商户退款单号",
    "退款状态",
    "手续费",
    "订单金额",
    "申请退款金额",
)
WECHAT_MERCHANT_COLUMN = "商户号"
WECHAT_SUMMARY_HEADER = "总交易单数"
WECHAT_REFUND_STATUS = {"SUCCESS": SUCCEEDED, "PROCESSING": IN_PROGRESS}


def _wechat_values(line: str, line_no: int) -> list[str]:
    """Every value starts with a backtick; splitting on ",`" keeps commas inside values."""
    if not line.startswith("`"):
        raise StatementError(f"Line {line_no}: a WeChat Pay bill value must start with a backtick.")
    return [value.strip() for value in line[1:].split(",`")]


def parse_wechatpay(data: bytes, day: date, merchant: str = "") -> Iterator[StatementRow]:
    """The bill's rows; with ``merchant`` (our mchid) every row's 商户号 must be it."""
    start, end = day_bounds(day)
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    columns: dict[str, int] | None = None
    width = 0
    rows = 0
    sums = {"订单金额": Decimal(0), "申请退款金额": Decimal(0), "手续费": Decimal(0)}
    summary_header: list[str] | None = None
    summary: list[str] | None = None
    line_no = 0
    try:
        for raw in text:
            line_no += 1
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            if summary is not None:
                raise StatementError(f"Line {line_no}: text after the WeChat Pay bill's totals.")
            if columns is None:
                header = [name.strip() for name in line.split(",")]
                required = (*WECHAT_COLUMNS, WECHAT_MERCHANT_COLUMN) if merchant else WECHAT_COLUMNS
                columns = column_index(header, required, what="WeChat Pay trade bill")
                width = len(header)
                continue
            if summary_header is not None:
                summary = _wechat_values(line, line_no)
                continue
            if line.startswith(WECHAT_SUMMARY_HEADER):
                summary_header = [name.strip() for name in line.split(",")]
                continue
            values = _wechat_values(line, line_no)
            if len(values) != width:
                raise TruncatedStatement(
                    f"Line {line_no} has {len(values)} values, the header {width}: the file is cut or damaged."
                )
            if merchant and (theirs := values[columns[WECHAT_MERCHANT_COLUMN]]) != merchant:
                raise WrongMerchant(
                    f"Line {line_no}: this WeChat Pay bill is of the merchant {theirs[:20]}, not ours ({merchant})."
                )
            row = _wechat_row(values, columns, line_no, day, start, end)
            rows += 1
            for name in sums:
                pattern = _FEE if name == "手续费" else _MONEY
                sums[name] += read_money(values[columns[name]] or "0", column=name, line=line_no, pattern=pattern)
            if row is not None:
                yield row
    except UnicodeDecodeError:
        raise StatementError(f"Line {line_no + 1}: the WeChat Pay bill is not UTF-8 text (or it is cut).") from None
    if columns is None:
        raise StatementError("The WeChat Pay bill has no header.")
    if summary_header is None or summary is None:
        raise TruncatedStatement("The WeChat Pay bill ends before its totals (总交易单数…): the file is cut.")
    _check_wechat_summary(summary_header, summary, rows, sums)


def _wechat_row(values, columns, line_no, day, start, end) -> StatementRow | None:
    at = read_time(values[columns["交易时间"]], column="交易时间", line=line_no)
    if not start <= at < end:
        raise WrongDay(f"This WeChat Pay bill is of {at.date().isoformat()}, not {day.isoformat()} (line {line_no}).")
    fee = read_money(values[columns["手续费"]] or "0", column="手续费", line=line_no, pattern=_FEE)
    state = values[columns["交易状态"]]
    if state in ("SUCCESS", "REVOKED"):
        transaction_id = values[columns["商户订单号"]]
        amount = read_money(values[columns["订单金额"]], column="订单金额", line=line_no)
        status = SUCCEEDED if state == "SUCCESS" else FAILED
        kind = CHARGE
    elif state == "REFUND":
        transaction_id = values[columns["商户退款单号"]]
        amount = read_money(values[columns["申请退款金额"]], column="申请退款金额", line=line_no)
        state = values[columns["退款状态"]] or "?"
        status = WECHAT_REFUND_STATUS.get(state, FAILED)
        kind = REFUND
    else:
        raise StatementError(f"Line {line_no}: unknown 交易状态 {state[:20]!r}.")
    if amount <= 0 or not transaction_id:
        raise StatementError(f"Line {line_no}: a {kind} row needs an order number and a positive amount.")
    return StatementRow(kind, transaction_id, amount, status, state, at, fee)


def _check_wechat_summary(header: list[str], values: list[str], rows: int, sums: dict) -> None:
    if len(header) != len(values):
        raise TruncatedStatement("The WeChat Pay bill's totals line is cut.")
    summary = dict(zip(header, values, strict=True))
    count = summary.get("总交易单数", "")
    if not _COUNT.fullmatch(count):
        raise StatementError("The WeChat Pay bill's 总交易单数 is not a number.")
    if int(count) != rows:
        raise TruncatedStatement(f"The WeChat Pay bill says {count} rows and holds {rows}: the file is cut.")
    for total_name, row_name, pattern in (
        ("订单总金额", "订单金额", _MONEY),
        ("申请退款总金额", "申请退款金额", _MONEY),
        ("手续费总金额", "手续费", _FEE),
    ):
        if total_name in summary:
            if not pattern.fullmatch(summary[total_name]):
                raise TruncatedStatement(
                    f"The WeChat Pay bill's {total_name} is not an amount: the totals line is cut."
                )
            total = Decimal(summary[total_name])
            if total != sums[row_name]:
                raise TruncatedStatement(
                    f"The WeChat Pay bill's {total_name} is {total}, its rows make {sums[row_name]}."
                )


# --- sandbox ----------------------------------------------------------------------------
