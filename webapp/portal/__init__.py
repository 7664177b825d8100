"""The public portal: the home page, 办事指南 of each type, the site map and the 长辈模式 switch (health probes are
webapp/health.py).

Anyone may open these pages: they show what the office publishes, never anything of a person. The guide's steps,
handlers and time limits come from the active process versions (processes/guide.py); the rest from the content
source (webapp/portal/content.py).
"""

from flask import Blueprint, abort, current_app, has_request_context, redirect, render_template, request

from processes import guide
from services import cases
from services.db import db
from webapp.auth import safe_next
from webapp.portal.content import content_source

bp = Blueprint("portal", __name__, template_folder="templates")

# The display preference: a cookie that holds only the mode, read on every page to set the <body> class.
DISPLAY_COOKIE = "display_mode"
ELDER = "elder"
DISPLAY_MODES = {ELDER: "长辈模式", "standard": "标准模式"}
DISPLAY_COOKIE_DAYS = 365
LIST_LENGTH = 5


def elder_mode() -> bool:
    """Return whether the visitor chose 长辈模式 (larger type and spacing)."""
    return has_request_context() and request.cookies.get(DISPLAY_COOKIE) == ELDER


# The home page's sections, in order: anchor and title (its section bar and the site map both list them).
SECTIONS = (("online", "在线办理"), ("guides", "办事指南"), ("downloads", "表格下载"), ("policies", "政策法规"),
            ("announcements", "通知公告"), ("questions", "常见问题"), ("contact", "咨询服务"))


@bp.context_processor
def _sections() -> dict:
    return {"sections": SECTIONS}


@bp.app_context_processor
def _display_and_footer() -> dict:
    """Give every page the display mode and the footer's settings (no database: error pages draw them too)."""
    config = current_app.config
    return {"elder_mode": elder_mode(), "portal": {
        "sponsor": config["PORTAL_SPONSOR"], "phone": config["PORTAL_PHONE"], "address": config["PORTAL_ADDRESS"],
        "email": config["PORTAL_EMAIL"], "icp": config["PORTAL_ICP"]}}


@bp.get("/")
def index():
    """Show the home page: what can be done online now, the guides, news sections, FAQ and contacts."""
    content = content_source()
    return render_template("portal/index.html", guides=list(guide.offered_guides(db.session).values()),
                           announcements=content.announcements(LIST_LENGTH), policies=content.policies(LIST_LENGTH),
                           downloads=content.downloads(), questions=content.questions())


@bp.get("/guide/<case_type>")
def guide_page(case_type: str):
    """Show the 办事指南 of a case type, as its active process version has it."""
    if case_type not in cases.CASE_TYPES:
        abort(404)
    return render_template("portal/guide.html", case_type=case_type, label=cases.CASE_TYPES[case_type],
                           guide=guide.guide_for(db.session, case_type),
                           text=content_source().guide_text(case_type), downloads=content_source().downloads())


@bp.get("/sitemap")
def sitemap():
    """Show every public page of the site (网站地图)."""
    offered = guide.offered_guides(db.session)
    return render_template("portal/sitemap.html", types=[(t, g.type_label) for t, g in offered.items()])


@bp.get("/display/<mode>")
def display(mode: str):
    """Switch between 长辈模式 and the standard display, and go back to the page the switch was on.

    A GET link, so it works without JavaScript and without a session: it sets nothing but the display cookie.
    """
    if mode not in DISPLAY_MODES:
        abort(404)
    response = redirect(safe_next(request.args.get("next")), 303)
    if mode == ELDER:
        response.set_cookie(DISPLAY_COOKIE, ELDER, max_age=DISPLAY_COOKIE_DAYS * 86400, httponly=True,
                            samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])
    else:
        response.delete_cookie(DISPLAY_COOKIE, httponly=True, samesite="Lax",
                               secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response
