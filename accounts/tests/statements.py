"""Providers' statements in their documented layouts, built in the tests.

* Alipay trade-detail bill: a zip of GBK CSV files named in GBK without the
  zip's UTF-8 flag (as Alipay writes them), ``<pid>_<yyyymmdd>_业务明细.csv``
  and ``…_业务明细(汇总).csv``, ``#`` comments before and after the table,
  values ending with a tab, refunds negative.
* WeChat Pay trade bill (ALL): UTF-8 CSV, every value after a backtick, a
  totals block at the end.
"""

import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from accounts.tests.fake_wechatpay import MCHID

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The account an Alipay bill names: the merchant's PID (2088 + 12 digits) and Alipay's suffix 0156.
ALIPAY_PID = "2088000000000000"
PID = ALIPAY_PID + "0156"

ALIPAY_HEADER = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
    "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
    "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
)
WECHAT_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
    "手续费,费率,订单金额,申请退款金额,费率备注"
)
WECHAT_SUMMARY = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"


@dataclass
class Line:
    """One charge (``refund_id`` empty) or refund of a statement."""

    trade_id: str  # our out_trade_no (of the charge refunded, for a refund)
    amount: Decimal
    at: datetime
    refund_id: str = ""  # our out_refund_no / out_request_no
    fee: Decimal = Decimal("0.00")
    refund_status: str = "SUCCESS"  # WeChat Pay only
    refund: bool = False  # a refund even without ``refund_id`` (an old Alipay refund with no request number)

    @property
    def is_refund(self) -> bool:
        return bool(self.refund_id) or self.refund


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SHANGHAI)


class _GbkName(zipfile.ZipInfo):
    """A member name written in GBK with no UTF-8 flag."""

    def _encodeFilenameFlags(self):
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def alipay_detail_csv(
    day: date, lines: list[Line], *, cut_after: int | None = None, account: str | None = PID
) -> bytes:
    """``account`` None: a file without its #账号 line."""
    start = f"{day:%Y年%m月%d日} 00:00:00"
    end = f"{day + timedelta(days=1):%Y年%m月%d日} 00:00:00"
    out = [
        "#支付宝业务明细查询",
        *([f"#账号：[{account}]"] if account is not None else []),
        f"#起始日期：[{start}]   终止日期：[{end}]",
        "#-----------------------------------------业务明细列表----------------------------------------",
        ALIPAY_HEADER,
    ]
    trades = refunds = 0
    trade_sum = refund_sum = Decimal("0.00")
    for n, line in enumerate(lines):
        created = line.at - timedelta(seconds=7)
        amount = -line.amount if line.is_refund else line.amount
        if line.is_refund:
            refunds += 1
            refund_sum += amount
        else:
            trades += 1
            trade_sum += amount
        out.append(
            ",".join(
                [
                    f"2026{n:024d}\t",
                    f"{line.trade_id}\t",
                    "退款\t" if line.is_refund else "交易\t",
                    "租车订单",
                    f"{created:%Y-%m-%d %H:%M:%S}",
                    f"{line.at:%Y-%m-%d %H:%M:%S}",
                    "\t",
                    "\t",
                    "\t",
                    "\t",
                    "*明(138******00)\t",
                    f"{amount:.2f}",
                    f"{amount:.2f}",
                    "0.00",
                    "0.00",
                    "0.00",
                    "0.00",
                    "0.00",
                    "",
                    "0.00\t",
                    "0.00",
                    f"{line.refund_id}\t",
                    f"{line.fee:.2f}",
                    "0.00",
                    "租车订单",
                ]
            )
        )
    if cut_after is not None:
        return ("\n".join(out[: len(out) - len(lines) + cut_after]) + "\n").encode("gbk")
    out += [
        "#-----------------------------------------业务明细列表结束------------------------------------",
        f"#交易合计：{trades}笔，商家实收共{trade_sum:.2f}元，商家优惠共0.00元",
        f"#退款合计：{refunds}笔，商家实收退款共{refund_sum:.2f}元，商家优惠退款共0.00元",
        f"#导出时间：[{day + timedelta(days=1):%Y年%m月%d日} 05:46:49]",
    ]
    return ("\n".join(out) + "\n").encode("gbk")


def alipay_summary_csv(day: date) -> bytes:
    return "\n".join(
        [
            "#支付宝业务汇总查询",
            f"#账号：[{PID}]",
            "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）",
            "合计,,0,0,0.00,0.00",
        ]
    ).encode("gbk")


def alipay_zip(day: date, lines: list[Line], *, detail: bytes | None = None) -> bytes:
    """The zip the bill download URL gives: summary first, then the detail."""
    buffer = io.BytesIO()
    stem = f"{PID}_{day:%Y%m%d}"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in (
            (f"{stem}_业务明细(汇总).csv", alipay_summary_csv(day)),
            (f"{stem}_业务明细.csv", detail if detail is not None else alipay_detail_csv(day, lines)),
        ):
            info = _GbkName(name, date_time=(day.year, day.month, day.day, 5, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def wechat_bill(
    lines: list[Line], *, with_summary: bool = True, summary_count: int | None = None, mchid: str = MCHID
) -> bytes:
    """The bill of the merchant ``mchid`` (商户号; the fake gateway's by default)."""
    rows = []
    order_total = refund_total = Decimal("0.00")
    fee_total = Decimal("0.00000")
    for n, line in enumerate(lines):
        fee = Decimal(line.fee).quantize(Decimal("0.00001"))
        fee_total += fee
        if line.is_refund:
            values = [
                f"{line.at:%Y-%m-%d %H:%M:%S}", "wx0000000000000001", mchid, "0", "",
                f"42000000002026{n:014d}", line.trade_id, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "NATIVE", "REFUND",
                "OTHERS", "CNY", "0.00", "0.00", f"50300000002026{n:014d}", line.refund_id,
                f"{line.amount:.2f}", "0.00", "ORIGINAL", line.refund_status, "租车订单", "", f"{fee:.5f}",
                "0.60%", "0.00", f"{line.amount:.2f}", "",
            ]  # fmt: skip
            refund_total += line.amount
        else:
            values = [
                f"{line.at:%Y-%m-%d %H:%M:%S}", "wx0000000000000001", mchid, "0", "",
                f"42000000002026{n:014d}", line.trade_id, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "NATIVE", "SUCCESS",
                "CMB_DEBIT", "CNY", f"{line.amount:.2f}", "0.00", "0", "0", "0.00", "0.00", "", "", "租车订单",
                '{"rental":1,"note":"a,b"}', f"{fee:.5f}", "0.60%", f"{line.amount:.2f}", "0.00", "",
            ]  # fmt: skip
            order_total += line.amount
        rows.append(",".join(f"`{value}" for value in values))
    out = [WECHAT_HEADER, *rows]
    if with_summary:
        count = len(lines) if summary_count is None else summary_count
        out += [
            WECHAT_SUMMARY,
            f"`{count},`{order_total:.2f},`{refund_total:.2f},`0.00,`{fee_total:.5f},`{order_total:.2f},`{refund_total:.2f}",
        ]
    return ("\r\n".join(out) + "\r\n").encode("utf-8")
