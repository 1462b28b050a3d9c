"""PDF rendering of the 年度学时证明 and course certificates (fpdf2, with the CJK font the plugin ships)."""
from __future__ import annotations

import logging
from pathlib import Path

from fpdf import FPDF

from lms.templating import local_dt

log = logging.getLogger(__name__)

# WenQuanYi Micro Hei (Apache-2.0), cut to the GBK repertoire: see fonts/README.md.
FONT_PATH = Path(__file__).resolve().parent / "fonts" / "wqy-microhei-gbk.ttf"
FONT = "wqy"
RED = (200, 22, 29)
INK = (34, 34, 34)
MUTED = (110, 110, 110)


def _hours(value) -> str:
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


class _Doc(FPDF):
    def __init__(self, title: str):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.add_font(FONT, fname=str(FONT_PATH))
        self.set_title(title)
        self.set_creator("党员e家")
        self.set_auto_page_break(auto=True, margin=20)
        self.set_margins(20, 20, 20)
        self.add_page()

    def text_line(self, text: str, size: float = 11, color=INK, align: str = "L", h: float = 7) -> None:
        self.set_font(FONT, size=size)
        self.set_text_color(*color)
        self.multi_cell(w=0, h=h, text=text, align=align, new_x="LMARGIN", new_y="NEXT", wrapmode="CHAR")

    def table(self, header: list[str], rows: list[list[str]], widths: list[float]) -> None:
        self.set_font(FONT, size=10)
        self.set_draw_color(210, 210, 210)
        self.set_fill_color(250, 246, 243)
        self.set_text_color(*INK)
        for i, h in enumerate(header):
            self.cell(widths[i], 8, h, border=1, fill=True, align="R" if i else "L")
        self.ln(8)
        for row in rows:
            if self.will_page_break(8):
                self.add_page()
            for i, v in enumerate(row):
                text = v if self.get_string_width(v) < widths[i] - 2 else _fit(self, v, widths[i] - 4)
                self.cell(widths[i], 8, text, border=1, align="R" if i else "L")
            self.ln(8)

    def qr(self, data: str, x: float, y: float, size: float) -> None:
        """The QR code drawn as vector squares (sharp at any zoom, no image decoding)."""
        import qrcode

        q = qrcode.QRCode(border=0, error_correction=qrcode.constants.ERROR_CORRECT_M)
        q.add_data(data)
        q.make(fit=True)
        matrix = q.get_matrix()
        cell = size / len(matrix)
        self.set_fill_color(0, 0, 0)
        for r, line in enumerate(matrix):
            for c, dark in enumerate(line):
                if dark:
                    self.rect(x + c * cell, y + r * cell, cell + 0.01, cell + 0.01, style="F")


def _fit(pdf: FPDF, text: str, width: float) -> str:
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _footer(pdf: _Doc, cert, verify_url: str) -> None:
    y = max(pdf.get_y() + 8, 222)
    if y > 240:
        pdf.add_page()
        y = 30
    pdf.set_draw_color(*RED)
    pdf.line(20, y, 190, y)
    pdf.qr(verify_url, 155, y + 5, 35)
    pdf.set_xy(20, y + 5)
    pdf.set_font(FONT, size=10)
    pdf.set_text_color(*INK)
    lines = [
        f"出具单位：{cert.issuer}",
        f"出具日期：{local_dt(cert.issued_at, '%Y年%m月%d日')}",
        f"证明编号：{cert.id:08d}",
        "学时记录摘要（SHA-256）：",
    ]
    for line in lines:
        pdf.set_x(20)
        pdf.cell(130, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(20)
    pdf.set_font(FONT, size=8)
    pdf.multi_cell(130, 4.5, cert.ledger_hash, new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(20)
    pdf.set_text_color(*MUTED)
    pdf.multi_cell(130, 4.5, f"扫描右侧二维码或访问以下地址核验本证明：{verify_url}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_xy(155, y + 41)
    pdf.set_font(FONT, size=8)
    pdf.cell(35, 4, "扫码核验", align="C")


def annual_statement(cert, person, unit_path: str, verify_url: str) -> bytes:
    f = cert.figures
    pdf = _Doc(f"{f['year']}年度学时证明")
    pdf.text_line(f"{f['year']} 年度学时证明", size=22, color=RED, align="C", h=14)
    pdf.ln(6)
    met = "已达到" if f.get("met") else "尚未达到"
    pdf.text_line(
        f"兹证明 {person.name}（学号/工号 {person.login_id}），所在党组织：{unit_path or '—'}，"
        f"{f['year']} 年度累计完成党员教育学时 {_hours(f['total'])} 学时。按“{f.get('category', '')}”类别，"
        f"年度学时要求为 {_hours(f['requirement'])} 学时，{met}年度要求。", size=12, h=8)
    pdf.ln(4)
    pdf.text_line("按学习来源", size=13, color=RED, h=9)
    rows = [[s["label"], str(s["count"]), _hours(s["hours"])] for s in f.get("by_source", [])]
    pdf.table(["来源", "记录条数", "学时"], rows or [["（本年度暂无学时记录）", "0", "0"]], [90, 40, 40])
    pdf.ln(4)
    pdf.text_line("按课程", size=13, color=RED, h=9)
    rows = [[c["title"], _hours(c["hours"])] for c in f.get("by_course", [])]
    pdf.table(["课程", "学时"], rows or [["（本年度暂无学时记录）", "0"]], [130, 40])
    _footer(pdf, cert, verify_url)
    return bytes(pdf.output())


def course_certificate(cert, person, verify_url: str) -> bytes:
    f = cert.figures
    pdf = _Doc(f"结业证书：{f['course']}")
    pdf.ln(20)
    pdf.text_line("结 业 证 书", size=28, color=RED, align="C", h=18)
    pdf.ln(14)
    pdf.text_line(f"{person.name}（学号/工号 {person.login_id}）：", size=14, h=10)
    pdf.text_line(f"    于 {f['completed_on']} 完成《{f['course']}》课程的全部学习，"
                  f"计入党员教育学时 {_hours(f['hours'])} 学时，特发此证。", size=14, h=10)
    pdf.ln(30)
    _footer(pdf, cert, verify_url)
    return bytes(pdf.output())
