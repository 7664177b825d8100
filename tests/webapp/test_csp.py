"""A strict Content-Security-Policy on every response, and no page holding code that policy would refuse.

The pages are found by walking the site as each kind of user does, over the demo world (its accounts and cases), a
draft with an uploaded photo and a case under verification with one: from every GET route of app.url_map that takes
no URL parameter, following each page's links, style sheets, scripts, images and GET forms, and each redirect. URLs
no page links to (a reset link from an e-mail, a slip's verification code, the API) are added by hand. Every GET
route must be reached by some walk, so a page added later is checked too.

Each response must carry the policy; each HTML page must hold no inline script, no `on…=` handler, no `style=`
attribute, no <style> element and no `javascript:` URL: the browser would refuse them, so a page holding one is
broken under the policy (and one that slipped in from a hostile diagram would have run without it).
"""

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import lxml.html
import pytest
from sqlalchemy import select
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from processes import casework, demo
from services import account_changes, accounts, api_tokens, applications, materials, password_reset, slips
from services.applications import ApplicationModel
from services.cases import CaseModel
from services.db import db
from services.filestore import DiskFileStore
from services.uploads import UploadLimits
from tests.fixtures import _ServerLikeClient, csrf_token, sign_in
from tests.samples import photo
from webapp import security_headers

# The kinds of user, each by their demo account's phone (None: not signed in).
KINDS = {
    "anonymous": None,
    "citizen": "13800000001",  # 张丽, with a registered case, one under verification and a draft
    "village_clerk": "13900000001",  # 李多福, the cases' hukou village
    "township_clerk": "13900000010",  # 陈街道
    "hall": "13900000011",  # 刘大厅, the township's service hall
    "county_official": "13900000020",  # 孙区县
    "policy_admin": "13900000030",  # 周流程
    "system_admin": "13900000040",  # 吴系统
}
API = "/api/v1"
# A walk opens at most this many URLs of one route (the statistics filters alone link to endless query strings).
PER_ROUTE = 3

# What each directive may allow, at most (the header may be narrower). The fetch directives fall back to default-src.
ALLOWED = {
    "default-src": {"'self'", "'none'"},
    "script-src": {"'self'", "'none'"},
    "script-src-elem": {"'self'", "'none'"},
    "script-src-attr": {"'none'"},
    "style-src": {"'self'", "'none'"},
    "style-src-elem": {"'self'", "'none'"},
    "style-src-attr": {"'none'"},
    "img-src": {"'self'", "'none'", "data:"},
    "object-src": {"'none'"},
    "base-uri": {"'none'", "'self'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'", "'none'"},
}
FALLS_BACK = ("script-src", "style-src", "img-src", "object-src")
REQUIRED = ("default-src", "base-uri", "frame-ancestors", "form-action")
REFERRER_POLICIES = {"same-origin", "no-referrer", "strict-origin", "strict-origin-when-cross-origin"}
URL_ATTRIBUTES = ("href", "src", "action", "formaction", "xlink:href", "data", "poster")


def directives(header: str) -> dict[str, list[str]]:
    """Return a Content-Security-Policy header as {directive: [sources]}."""
    parsed = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            parsed.setdefault(words[0].lower(), words[1:])
    return parsed


def policy_problems(headers) -> list[str]:
    """Return what makes a response's security headers less than strict (an empty list when they are strict)."""
    header = headers.get("Content-Security-Policy")
    if not header:
        return ["no Content-Security-Policy header"]
    policy, problems = directives(header), []
    problems += [f"{name} missing" for name in REQUIRED if name not in policy]
    effective = {name: policy.get(name, policy.get("default-src", [])) for name in FALLS_BACK}
    for name, sources in {**policy, **effective}.items():
        allowed = ALLOWED.get(name)
        if allowed is None:
            continue
        loose = [s for s in sources if s not in allowed and not (name.startswith("script-src") and s.startswith(
            "'nonce-"))]
        if loose:
            problems.append(f"{name} allows {' '.join(loose)}")
    if headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    if headers.get("Referrer-Policy") not in REFERRER_POLICIES:
        problems.append(f"Referrer-Policy {headers.get('Referrer-Policy')!r}")
    return problems


def nonce_of(headers) -> str | None:
    """Return the script nonce a response's policy allows, if any."""
    sources = directives(headers.get("Content-Security-Policy", "")).get("script-src", [])
    return next((s[len("'nonce-"):-1] for s in sources if s.startswith("'nonce-")), None)


def markup_problems(html: str, nonce: str | None) -> list[str]:
    """Return the inline code in a page that a strict policy refuses: scripts, handlers, styles, javascript: URLs."""
    document = lxml.html.document_fromstring(html)
    problems = []
    for element in document.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        if tag == "script" and not element.get("src") and (nonce is None or element.get("nonce") != nonce):
            problems.append(f"inline <script>: {(element.text or '').strip()[:60]!r}")
        if tag == "style":
            problems.append(f"<style> element: {(element.text or '').strip()[:60]!r}")
        for name, value in element.attrib.items():
            lowered = name.lower()
            if lowered.startswith("on"):
                problems.append(f"<{tag} {name}={value[:60]!r}>")
            elif lowered == "style":
                problems.append(f"<{tag} style={value[:60]!r}>")
            elif lowered in URL_ATTRIBUTES and "".join(value.split()).lower().startswith("javascript:"):
                problems.append(f"<{tag} {name}={value[:60]!r}>")
    return problems


def response_problems(response) -> list[str]:
    """Return every problem of one response: its headers, and for an HTML page its markup."""
    problems = policy_problems(response.headers)
    if response.mimetype == "text/html" and response.get_data():
        problems += markup_problems(response.get_data(as_text=True), nonce_of(response.headers))
    return problems


# -- the world and the walk -----------------------------------------------------------------------------------------

@pytest.fixture
def world(app, session, deployed):  # noqa: ARG001 - the demo cases start on the deployed diagrams
    """Load the demo world, plus a photo in a draft and one in a case under verification; return the URLs no page
    links to (each GET route with URL parameters that the walks would not otherwise reach)."""
    demo.load(session)
    session.commit()  # the registered case's slip is issued by the background work that follows the commit
    citizen = accounts.find_by_phone(session, KINDS["citizen"])
    registered, waiting = session.scalars(select(CaseModel).order_by(CaseModel.id)).all()[:2]
    store, limits = DiskFileStore(app.config["UPLOAD_DIR"]), UploadLimits()
    draft = applications.start(session, citizen.id, "first_child")
    materials.add_material(session, store, draft, "id_card", photo(), "id.jpg", limits=limits, max_per_kind=5)
    submitted = session.scalar(select(ApplicationModel).where(ApplicationModel.case_id == waiting.id))
    submitted.status = applications.DRAFT  # only a draft takes uploads; the case's own application is one again after
    materials.add_material(session, store, submitted, "id_card", photo(), "id.jpg", limits=limits, max_per_kind=5)
    submitted.status = applications.SUBMITTED
    slip = slips.slip_of_case(session, registered)
    assert slip is not None, "the demo's registered case has no slip"
    session.commit()
    extra = {
        f"/auth/reset/{password_reset.make_token(citizen, app.config['SECRET_KEY'])}",
        "/auth/reset/not-a-token",
        f"/auth/email/confirm/{account_changes.make_token(citizen, 'new@example.cn', app.config['SECRET_KEY'])}",
        "/auth/email/confirm/not-a-token",
        f"/slips/verify/{slip.verification_code}",
        "/slips/verify/0000",
        f"/divisions/{demo.TOWNSHIP}/children",
        f"/my/cases/{waiting.case_number}/correct",
        f"/apply/{draft.token}/materials",  # the draft's next steps are buttons of its form, not links
        f"/apply/{draft.token}/review",
        f"/apply/{submitted.token}/materials",
        f"/staff/people/{waiting.woman_id}",  # found by a search (a POST), not by a link
        f"{API}/statistics",
        f"{API}/people/{waiting.woman_id}",
        f"{API}/tasks/{casework.open_tasks(session, waiting)[0].id}",
    }
    return extra


@dataclass
class Walk:
    """The URLs one kind of user opened, the route each belongs to, and the problems found."""

    seen: dict[str, str | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _match(app, url: str) -> str | None:
    """Return the endpoint a GET of `url` reaches, or None when no route takes it."""
    parts = urlsplit(url)
    try:
        endpoint, _ = app.url_map.bind("localhost").match(parts.path, method="GET", query_args=parts.query)
    except (NotFound, MethodNotAllowed, RequestRedirect):
        return None
    return endpoint


def _links(html: str) -> list[str]:
    """Return the same-site URLs a page links to, loads, or sends a GET form to (without fragments)."""
    found = []
    for element, attribute, link, _ in lxml.html.document_fromstring(html).iterlinks():
        if attribute is None:  # a url() inside a style: reported as a style problem already
            continue
        if attribute in {"action", "formaction"}:
            form = element if element.tag == "form" else next(element.iterancestors("form"), None)
            method = element.get("formmethod") or (form.get("method") if form is not None else None) or "get"
            if method.lower() != "get":
                continue
        parts = urlsplit(link)
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            continue
        found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def walk(app, client, seeds, api_headers) -> Walk:
    """Open `seeds` and everything they lead to on this site, at most PER_ROUTE URLs of a route; check each answer."""
    done, queue, per_route = Walk(), list(seeds), {}
    while queue:
        url = queue.pop(0)
        if url in done.seen:
            continue
        endpoint = _match(app, url)
        if per_route.get(endpoint, 0) >= PER_ROUTE:
            continue
        per_route[endpoint] = per_route.get(endpoint, 0) + 1
        done.seen[url] = endpoint
        try:
            response = client.get(url, headers=api_headers if url.startswith(API + "/") else None)
        except Exception as exc:  # noqa: BLE001 - reported with the URL, and the walk goes on
            done.problems.append(f"{url}: raised {type(exc).__name__}: {exc}")
            continue
        done.problems += [f"{url} ({response.status_code}): {p}" for p in response_problems(response)]
        if response.location:
            queue.append(urlsplit(response.location)._replace(scheme="", netloc="", fragment="").geturl())
        if response.mimetype == "text/html" and endpoint is not None:
            queue += _links(response.get_data(as_text=True))
    return done


def _client_of(app, session, phone):
    """Return a client signed in as the demo account `phone` (anonymous for None), and its API headers."""
    client = _ServerLikeClient(app, app.response_class, use_cookies=True)
    if phone is None:
        return client, {}
    user = accounts.find_by_phone(session, phone)
    sign_in(client, user, password=demo.DEMO_PASSWORD)
    if not api_tokens.is_staff(user):
        return client, {}
    secret = api_tokens.issue_token(session, user, "csp")
    session.commit()
    return client, {"Authorization": f"Bearer {secret}"}


def _get_routes(app) -> dict[str, str]:
    """Return {endpoint: pattern} of every route that answers GET."""
    return {rule.endpoint: rule.rule for rule in app.url_map.iter_rules() if "GET" in (rule.methods or ())}


def test_every_page_each_kind_of_user_reaches_has_a_strict_policy_and_no_inline_code(app, session, world):
    routes = _get_routes(app)
    seeds = sorted(pattern for pattern in routes.values() if "<" not in pattern) + sorted(world)
    reached, problems = set(), []
    for kind, phone in KINDS.items():
        client, api_headers = _client_of(app, session, phone)
        result = walk(app, client, seeds, api_headers)
        reached |= set(result.seen.values())
        problems += [f"[{kind}] {problem}" for problem in result.problems]
        db.session.remove()
    assert not problems, "\n".join(problems)
    assert not set(routes) - reached, f"GET routes no walk reached: {sorted(set(routes) - reached)}"


# -- error pages ----------------------------------------------------------------------------------------------------

def test_error_pages_carry_the_policy_and_no_inline_code(app, client, monkeypatch):
    answers = {"404": client.get("/no-such-page"), "405": client.get("/auth/logout"),
               "400": client.post("/auth/login", data={"phone": "13800000001", "password": "x"})}
    token = csrf_token(client.get("/auth/login").text)
    too_big = app.config["MAX_CONTENT_LENGTH"] + 1
    answers["413"] = client.post("/auth/login", data={"csrf_token": token, "padding": "x" * too_big})

    def broken():
        raise RuntimeError("the database went away")

    monkeypatch.setitem(app.view_functions, "portal.index", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    answers["500"] = client.get("/")
    for code, response in answers.items():
        assert str(response.status_code) == code, (code, response.status_code)
        assert response.mimetype == "text/html"
        assert response_problems(response) == [], code


def test_403_for_a_citizen_on_a_staff_page_carries_the_policy(app, session, people, browser_for):  # noqa: ARG001
    response = browser_for("citizen").get("/staff/")
    assert response.status_code == 403
    assert "您没有权限访问此页面" in response.text
    assert response_problems(response) == []


# -- the header itself ------------------------------------------------------------------------------------------------

def test_a_page_gets_the_whole_site_policy(client):
    policy = directives(client.get("/").headers["Content-Security-Policy"])
    assert policy == {name: sources.split() for name, sources in security_headers.POLICY.items()}
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]


def test_a_narrower_policy_set_by_a_view_is_kept_and_completed(app, session, people, browser_for):  # noqa: ARG001
    # An uploaded photo is served with "default-src 'none'; sandbox": kept, with the directives that never fall back
    # to default-src added, so nobody can frame it either.
    client = browser_for("citizen")
    draft = applications.start(session, people.citizen.id, "first_child")
    material = materials.add_material(session, DiskFileStore(app.config["UPLOAD_DIR"]), draft, "id_card", photo(),
                                      "id.jpg", limits=UploadLimits(), max_per_kind=5)
    session.commit()
    response = client.get(f"/materials/{material.token}")
    assert response.status_code == 200
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'none'"]
    assert "sandbox" in policy
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy_problems(response.headers) == []


@pytest.mark.parametrize(("markup", "found"), [
    ('<p onclick="x()">a</p>', "onclick"),
    ('<svg><g data-element="x" autofocus onfocus="window.__pwned=1"></g></svg>', "onfocus"),
    ("<script>window.__pwned = 1</script>", "inline <script>"),
    ('<span style="width: 5%"></span>', "style="),
    ("<svg><style>.a { fill: red }</style></svg>", "<style> element"),
    ('<a href=" JavaScript:alert(1)">x</a>', "JavaScript:"),
])
def test_the_markup_check_finds_each_kind_of_inline_code(markup, found):
    problems = markup_problems(f"<!doctype html><html><body>{markup}</body></html>", None)
    assert len(problems) == 1
    assert found in problems[0]


def test_the_markup_check_passes_external_scripts_and_nonced_ones():
    html = '<html><body><script src="/static/a.js"></script><script nonce="abc">1</script></body></html>'
    assert markup_problems(html, "abc") == []
    assert len(markup_problems(html, None)) == 1
