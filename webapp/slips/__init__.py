"""Slips on the web: the public verification page, the applicant's download, and the one way a slip PDF is sent.

The slip's Chinese font faces are built under the instance folder by `flask init`, and again (if missing) by each
app start in a background thread, so that no applicant waits for them on the first download.
"""

import logging
import threading
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, render_template
from flask.blueprints import BlueprintSetupState
from flask_login import current_user, login_required

from processes import hall
from services import cases, slips
from services.cases import CaseModel
from services.db import db
from services.documents import SlipModel
from services.pdf_fonts import FontUnavailable
from webapp.external_urls import external_url

bp = Blueprint("slips", __name__, url_prefix="/slips", template_folder="templates")
UNAVAILABLE_MESSAGE = "登记单暂时无法生成，请稍后再试或联系工作人员"
log = logging.getLogger(__name__)


def font_cache_dir(app: Flask) -> Path:
    """Return the folder the slip's font faces are kept in."""
    return Path(app.instance_path) / "fonts"


def prepare_fonts(app: Flask) -> None:
    """Build the slip's fixed font faces if they are missing; raises FontUnavailable."""
    slips.prepare_fonts(app.config["PDF_FONT"] or None, font_cache_dir(app))


def _prepare_quietly(app: Flask) -> None:
    try:
        prepare_fonts(app)
    except FontUnavailable:
        # Said again, in full, by the first download that needs the font; the app itself runs on.
        log.exception("slip fonts could not be prepared")


@bp.record_once
def _prepare_fonts_in_background(state: BlueprintSetupState) -> None:
    """Start preparing the fonts when the app is built (not under tests, which build many apps and few slips)."""
    if not state.app.testing:
        threading.Thread(target=_prepare_quietly, args=(state.app,), name="slip-fonts", daemon=True).start()


def pdf_response(case: CaseModel, slip: SlipModel, *, attachment: bool) -> Response:
    """Render the slip of a case and send it (as a download, or inline for printing)."""
    verify_url = external_url("slips.verify", code=slip.verification_code)
    try:
        pdf = slips.render_pdf(slips.facts(db.session, slip, case), verify_url,
                               font_setting=current_app.config["PDF_FONT"] or None,
                               cache_dir=font_cache_dir(current_app))
    except (FontUnavailable, slips.SlipRenderError):
        # A deployment problem, not the visitor's: logged in full, answered with a page in Chinese.
        current_app.logger.exception("slip of case %s could not be rendered", case.case_number)
        return Response(render_template("error.html", code=503, message=UNAVAILABLE_MESSAGE), status=503)
    disposition = "attachment" if attachment else "inline"
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'{disposition}; filename="slip-{case.case_number}.pdf"',
        "Cache-Control": "no-store",
    })


@bp.get("/verify/<code>")
def verify(code: str):
    """Say whether a slip is genuine, showing masked details only (no sign-in: anyone holding the slip may ask)."""
    found = slips.find_by_code(db.session, code)
    if found is None:
        return render_template("slips/verify.html", facts=None), 404
    slip, case = found
    return render_template("slips/verify.html", facts=slips.facts(db.session, slip, case))


@bp.get("/<case_number>.pdf")
@login_required
def download(case_number: str):
    """Send the applicant the slip of their case; anyone else's case, or no case, is 404."""
    case = cases.get_case(db.session, case_number)
    if case is None or case.applicant_id != current_user.account.id:
        abort(404)
    slip = slips.slip_of_case(db.session, case)
    if slip is None:
        return render_template("slips/not_issued.html", case=case), 404
    hall.record_print(db.session, current_user.account, case, channel="online")
    return pdf_response(case, slip, attachment=True)
