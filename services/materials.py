"""Proof photos and documents (证明材料) attached to an application: which are required, adding and removing them.

Which materials an application needs follows from its answers (see `required_materials`); submission refuses an
application while `missing_materials` names any. Every file goes through `services.uploads.harden` before it is
kept, under a random name, by a `FileStore`.
"""

import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base, UTCDateTime, utcnow
from services.applications import DRAFT, ApplicationModel
from services.cases import CaseModel
from services.codes import REMARRIAGE
from services.filestore import FileStore
from services.uploads import Hardened, UploadLimits, UploadRefused, harden

# A submitted case sent back with this status (核实有误) lets its applicant change the materials while correcting.
CORRECTION_STATUS = "核实有误"
ORIGINAL_NAME_LENGTH = 200


class MaterialModel(Base):
    """One uploaded file, re-encoded and stored under a random name."""

    __tablename__ = "material"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    # Random names: the public handle in URLs and the stored file names.
    token: Mapped[str] = mapped_column(String(32), unique=True)
    stored_name: Mapped[str] = mapped_column(String(80))
    thumbnail_name: Mapped[str | None] = mapped_column(String(80))
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    original_name: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def label(self) -> str:
        """Return the Chinese name of the material's kind."""
        return KINDS[self.kind].label if self.kind in KINDS else self.kind

    @property
    def is_pdf(self) -> bool:
        """Return whether the file is a PDF (served as a download, shown without a thumbnail)."""
        return self.content_type == "application/pdf"


@dataclass(frozen=True)
class MaterialKind:
    """A kind of proof: its name, what to photograph, and whether a PDF will do."""

    key: str
    label: str
    hint: str
    accepts_pdf: bool = True


ID_CARD, HUKOU_BOOK, MARRIAGE_CERTIFICATE = "id_card", "hukou_book", "marriage_certificate"
REMARRIAGE_PROOF, COUPLE_PHOTO = "remarriage_proof", "couple_photo"
BIRTH_CERTIFICATE, BIRTH_HISTORY_PROOF = "birth_certificate", "birth_history_proof"

# In the order the page lists them.
KINDS = {kind.key: kind for kind in (
    MaterialKind(ID_CARD, "身份证（夫妻双方）", "夫妻双方居民身份证的正面和反面，可分多张上传"),
    MaterialKind(HUKOU_BOOK, "户口本", "户口簿首页和夫妻双方本人页"),
    MaterialKind(MARRIAGE_CERTIFICATE, "结婚证", "结婚证的持证人页和登记页"),
    MaterialKind(REMARRIAGE_PROOF, "再婚相关证明", "离婚证、离婚判决书（调解书）或丧偶证明"),
    MaterialKind(COUPLE_PHOTO, "夫妻近期免冠合影", "夫妻二人近期正面免冠合影", accepts_pdf=False),
    MaterialKind(BIRTH_CERTIFICATE, "出生医学证明", "已出生子女的出生医学证明"),
    MaterialKind(BIRTH_HISTORY_PROOF, "生育情况证明", "再婚前所生育子女情况的证明"),
)}
ALWAYS_REQUIRED = (ID_CARD, HUKOU_BOOK, MARRIAGE_CERTIFICATE, COUPLE_PHOTO)


def editable(session: Session, application: ApplicationModel) -> bool:
    """Return whether the applicant may still change the materials: a draft, or a case sent back for correction."""
    if application.status == DRAFT:
        return True
    case = session.get(CaseModel, application.case_id) if application.case_id else None
    return case is not None and case.status == CORRECTION_STATUS


def required_materials(answers: dict) -> list[tuple[str, str, str]]:
    """Return (kind, label, hint) of every material the answers make required, in page order.

    Remarriage (再婚, GB/T 2261.2 code 22) of either spouse asks for the proof that the earlier marriage ended and
    for the births before it; an application made after the birth asks for the 出生医学证明. A draft's answers may
    still be incomplete: what is not answered yet asks for nothing.
    """
    required = set(ALWAYS_REQUIRED)
    if any((answers.get(spouse) or {}).get("marital_status") == REMARRIAGE for spouse in ("woman", "man")):
        required |= {REMARRIAGE_PROOF, BIRTH_HISTORY_PROOF}
    if answers.get("after_birth") is True:
        required.add(BIRTH_CERTIFICATE)
    return [(kind.key, kind.label, kind.hint) for kind in KINDS.values() if kind.key in required]


def optional_materials(answers: dict) -> list[str]:
    """Return the kinds worth offering beside the required ones: only what the answers make relevant.

    Children already born (listed in the application) may have their 出生医学证明 attached even when the
    application is made before the new birth; nothing else is offered without a reason in the answers.
    """
    required = {kind for kind, _label, _hint in required_materials(answers)}
    offered = set()
    if answers.get("children"):
        offered.add(BIRTH_CERTIFICATE)
    return [key for key in KINDS if key in offered - required]


def shown_materials(answers: dict, uploaded: set[str]) -> list[tuple[MaterialKind, bool]]:
    """Return (kind, required) of every kind the upload page lists, in page order.

    The required and relevant optional kinds, and any kind that already has a file (the answers may have changed
    since it was uploaded): a file is never hidden from the person who may delete it.
    """
    required = {kind for kind, _label, _hint in required_materials(answers)}
    listed = required | set(optional_materials(answers)) | (uploaded & set(KINDS))
    return [(kind, kind.key in required) for kind in KINDS.values() if kind.key in listed]


def of_application(session: Session, application: ApplicationModel) -> list[MaterialModel]:
    """Return the application's materials, in page order of their kinds, oldest first within a kind."""
    rows = session.scalars(select(MaterialModel).where(MaterialModel.application_id == application.id)
                           .order_by(MaterialModel.uploaded_at, MaterialModel.id))
    order = list(KINDS)
    return sorted(rows, key=lambda m: order.index(m.kind) if m.kind in KINDS else len(order))


def missing_materials(session: Session, application: ApplicationModel,
                      uploaded: Iterable[MaterialModel] | None = None) -> list[str]:
    """Return the labels of the required materials of which nothing is uploaded yet (all of them, in one notice).

    `uploaded` is the application's materials when the caller has just read them (no second query).
    """
    kinds = Counter(m.kind for m in (of_application(session, application) if uploaded is None else uploaded))
    return [label for kind, label, _hint in required_materials(application.answers or {}) if not kinds[kind]]


def of_case(session: Session, case: CaseModel) -> list[tuple[str, list[MaterialModel]]]:
    """Return the materials of the application a case came from, grouped by kind: [(label, materials)]."""
    application = session.scalar(select(ApplicationModel).where(ApplicationModel.case_id == case.id))
    if application is None:
        return []
    groups: dict[str, list[MaterialModel]] = {}
    for material in of_application(session, application):
        groups.setdefault(material.label, []).append(material)
    return list(groups.items())


def by_token(session: Session, token: str) -> tuple[MaterialModel, ApplicationModel] | None:
    """Return a material and its application by the material's public token."""
    row = session.execute(select(MaterialModel, ApplicationModel)
                          .join(ApplicationModel, ApplicationModel.id == MaterialModel.application_id)
                          .where(MaterialModel.token == token)).first()
    return (row[0], row[1]) if row else None


def add_material(session: Session, store: FileStore, application: ApplicationModel, kind: str, data: bytes,
                 original_name: str, *, limits: UploadLimits, max_per_kind: int) -> MaterialModel:
    """Harden an upload and keep it: the row first, then its files (flush only; removed again without a commit).

    The caller holds the application row locked (`applications.of_applicant(..., for_update=True)`), so two
    uploads at once cannot both take the last place of a kind. Raises UploadRefused with the reason in Chinese.
    """
    spec = KINDS.get(kind)
    if spec is None:
        raise UploadRefused("请选择要上传的材料类别")
    if not editable(session, application):
        raise UploadRefused("申请已提交，材料不能再修改")
    count = session.scalar(select(func.count()).select_from(MaterialModel).where(
        MaterialModel.application_id == application.id, MaterialModel.kind == kind)) or 0
    if count >= max_per_kind:
        raise UploadRefused(f"「{spec.label}」最多上传 {max_per_kind} 个文件，请先删除不需要的文件")
    hardened = harden(data, allow_pdf=spec.accepts_pdf, limits=limits)
    return _keep(session, store, application, spec, hardened, original_name)


def _keep(session: Session, store: FileStore, application: ApplicationModel, spec: MaterialKind,
          hardened: Hardened, original_name: str) -> MaterialModel:
    # The files first, then the row with their names in one INSERT: a file the store wrote is removed again unless
    # the transaction commits (services/filestore.py), so a row the database refuses leaves no file behind either.
    written: list[str] = []
    try:
        written.append(store.save(session, hardened.content, hardened.suffix))
        if hardened.thumbnail is not None:
            written.append(store.save(session, hardened.thumbnail, ".jpg"))
    except OSError:
        # No row was added; the files written so far go now, the others of the same pick may still be kept.
        store.discard(session, written)
        raise UploadRefused("文件保存失败，请稍后重试") from None
    material = MaterialModel(
        application_id=application.id, kind=spec.key, token=secrets.token_urlsafe(16), stored_name=written[0],
        thumbnail_name=written[1] if len(written) > 1 else None, content_type=hardened.content_type,
        size=len(hardened.content), width=hardened.width, height=hardened.height,
        original_name=original_name[:ORIGINAL_NAME_LENGTH] or spec.label,
    )
    session.add(material)
    session.flush()
    return material


def remove_material(session: Session, store: FileStore, application: ApplicationModel, token: str) -> str:
    """Delete one of the application's materials; its files go once the deletion is committed. Return its label.

    Raises LookupError when the application has no material with this token, UploadRefused once it is submitted.
    """
    material = session.scalar(select(MaterialModel).where(MaterialModel.application_id == application.id,
                                                          MaterialModel.token == token))
    if material is None:
        raise LookupError(token)
    if not editable(session, application):
        raise UploadRefused("申请已提交，材料不能再修改")
    for name in (material.stored_name, material.thumbnail_name):
        if name:
            store.remove_after_commit(session, name)
    session.delete(material)
    session.flush()
    return material.label
