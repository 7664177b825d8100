"""The printed slip (生育服务登记单 / 再生育审批单) as a PDF, and what its public verification page may show."""

import base64
import io
import re
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import qrcode
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from engine.calendar import CST
from services import divisions, identity, pdf_fonts
from services.cases import CASE_TYPES, PARITY_OF_TYPE, CaseModel
from services.codes import ETHNICITIES
from services.documents import SlipModel
from services.people import Claim, latest_claim

CODE_PATTERN = re.compile(r"[0-9a-f]{32}")
SLIP_TITLES = ("生育服务登记单", "再生育审批单")  # SlipModel.kind
PARITY_LABELS = {1: "第一个孩子", 2: "第二个孩子", 3: "第三个孩子"}
_templates = Environment(loader=PackageLoader("services", "templates"), autoescape=select_autoescape(["html"]))
# ReportLab keeps fonts in process-wide registries; one render at a time keeps documents from meeting there.
_render_lock = threading.Lock()


class SlipRenderError(RuntimeError):
    """The PDF could not be produced."""


@dataclass(frozen=True)
class Spouse:
    """One spouse as the slip prints them (ID number and ethnicity only when the case names the person)."""

    name: str
    id_number: str = ""
    ethnicity: str = ""

    @property
    def masked_name(self) -> str:
        """Return the name with its middle hidden: 张*华, 张* for two characters."""
        return mask_name(self.name)

    @property
    def masked_id(self) -> str:
        """Return the ID number with its middle hidden."""
        return identity.mask(self.id_number) if self.id_number else ""


@dataclass(frozen=True)
class SlipFacts:
    """Everything printed on a slip."""

    title: str
    case_number: str
    type_label: str
    parity: str
    woman: Spouse
    man: Spouse
    office: str
    issued_on: str
    verification_code: str


def mask_name(name: str) -> str:
    """Return a name with the characters between the first and the last hidden."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return f"{name[0]}*"
    return f"{name[0]}{'*' * (len(name) - 2)}{name[-1]}"


def slip_of_case(session: Session, case: CaseModel) -> SlipModel | None:
    """Return the slip issued for a case, if any."""
    return session.scalar(select(SlipModel).where(SlipModel.case_id == case.id))


def find_by_code(session: Session, code: str) -> tuple[SlipModel, CaseModel] | None:
    """Return the slip with this verification code and its case; None for anything else."""
    code = (code or "").strip().lower()
    if not CODE_PATTERN.fullmatch(code):
        return None
    row = session.execute(select(SlipModel, CaseModel).join(CaseModel, CaseModel.id == SlipModel.case_id)
                          .where(SlipModel.verification_code == code)).first()
    return (row[0], row[1]) if row else None


def _spouse(claim: Claim | None, side: str, name: str, ethnicity_code: str | None) -> Spouse:
    """Return a spouse as the case claims them: the slip prints what was submitted and verified on this case."""
    if claim is None:  # cases made by staff tools without an application name the spouses only
        return Spouse(name=name, ethnicity=ETHNICITIES.get(ethnicity_code or "", ""))
    given = claim.spouse(side)
    return Spouse(name=given.get("name") or name, id_number=given.get("id_number") or "",
                  ethnicity=ETHNICITIES.get(given.get("ethnicity") or ethnicity_code or "", ""))


def facts(session: Session, slip: SlipModel, case: CaseModel) -> SlipFacts:
    """Collect what the slip of a case prints."""
    parity = case.parity or PARITY_OF_TYPE.get(case.case_type)
    claim = latest_claim(session, case.id)
    return SlipFacts(
        title=slip.kind, case_number=case.case_number, type_label=case.type_label,
        parity=PARITY_LABELS.get(parity, f"第{parity}个孩子") if parity else "",
        woman=_spouse(claim, "woman", case.woman_name, case.mother_ethnicity),
        man=_spouse(claim, "man", case.man_name, case.father_ethnicity),
        office=divisions.township_office(session, case.hukou_division),
        issued_on=f"{slip.issued_at.astimezone(CST):%Y年%m月%d日}",
        verification_code=slip.verification_code,
    )


def qr_data_uri(text: str) -> str:
    """Return a QR code of `text` as a PNG data: URI."""
    image = qrcode.make(text, border=2, box_size=6)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


@cache
def _fixed_text() -> str:
    """Return the characters of the template and its labels (the same for every slip), for the cached font face."""
    source, _, _ = _templates.loader.get_source(_templates, "slip.html")
    labels = "".join([*PARITY_LABELS.values(), *ETHNICITIES.values(), *CASE_TYPES.values(), *SLIP_TITLES])
    return "".join(ch for ch in set(source + labels) if ord(ch) > 0x7F)


def prepare_fonts(font_setting: str | None, cache_dir: Path) -> None:
    """Make the slip's fonts ready ahead of the first slip (see pdf_fonts.prepare); raises FontUnavailable."""
    pdf_fonts.prepare(_fixed_text(), setting=font_setting, cache_dir=cache_dir)


def render_pdf(slip: SlipFacts, verify_url: str, *, font_setting: str | None, cache_dir: Path) -> bytes:
    """Return the slip as a one-page A4 PDF, with the Chinese font embedded.

    Raises pdf_fonts.FontUnavailable when no usable font is configured or shipped, SlipRenderError when the
    renderer fails.
    """
    template = _templates.get_template("slip.html")
    draft = template.render(slip=slip, verify_url=verify_url, qr="", font_css="", families="")
    fonts = pdf_fonts.fonts_for(draft, _fixed_text(), setting=font_setting, cache_dir=cache_dir)
    html = template.render(slip=slip, verify_url=verify_url, qr=qr_data_uri(verify_url), font_css=fonts.css,
                           families=fonts.families)
    # Local reads are confined to the font folders: the document names no other file.
    policy = ResourceAccessPolicy(base_dir=fonts.folders[0], extra_roots=fonts.folders[1:], allow_remote=False)
    out = io.BytesIO()
    with _render_lock:
        result = pisa.CreatePDF(html, dest=out, encoding="utf-8", resource_policy=policy)
    if result.err:
        raise SlipRenderError(f"登记单生成失败（{result.err} 处错误）")
    return out.getvalue()
