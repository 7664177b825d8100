"""Security headers on every response: a strict Content-Security-Policy and the browser switches that go with it,
no caching of anything but static files, and HTTPS only once the site is served over HTTPS.

No page of this site needs inline code: scripts and style sheets are files under /static (or a blueprint's static
folder), event handlers are attached by those scripts, and drawings (BPMN diagrams, statistics charts) are SVG with
presentation attributes only. So the policy allows nothing inline: a `<script>`, an `on…=` handler or a
`javascript:` link that slipped into a page, say through a hostile name inside an uploaded diagram, is refused by
the browser instead of running for every staff member who opens the case.
"""

from flask import Flask, current_app, request
from werkzeug.wrappers import Response

# The site's policy, directive by directive. data: images are not allowed: no page shows one (the slip's QR code is
# drawn inside the PDF, not in a page).
POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
# Directives that do not fall back to default-src: a view's own, narrower policy (an uploaded file served with
# "default-src 'none'; sandbox") still gets these from the site's.
NO_FALLBACK = ("base-uri", "frame-ancestors", "form-action")
OTHER_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # No page of this site belongs in someone else's frame (clickjacking the sign-in or a decision button); older
    # browsers that ignore frame-ancestors still honour this.
    "X-Frame-Options": "DENY",
    # Case numbers and tokens sit in URLs: they must not leak to other sites in the Referer header.
    "Referrer-Policy": "same-origin",
}


# Pages, JSON and files show personal data to whoever is signed in (a task page after a reveal, the hall's search, an
# application form): no browser, shared computer or proxy may keep a copy. Only static files may be cached.
NO_STORE = "no-store"
# HTTPS only, for a year, once cookies are sent over HTTPS only (SESSION_COOKIE_SECURE=1). Subdomains are not
# included: they may be other offices' sites.
HSTS = "max-age=31536000"


def policy_text(policy: dict[str, str] = POLICY) -> str:
    """Return a policy as the header's text: `directive sources; …`."""
    return "; ".join(f"{directive} {sources}" for directive, sources in policy.items())


def completed(own: str) -> str:
    """Return a view's own policy with the site's directives it lacks among those that never fall back to
    default-src, so a narrower policy set by a view is kept and loses none of the site's protection."""
    named = {part.split()[0].lower() for part in own.split(";") if part.strip()}
    missing = {directive: POLICY[directive] for directive in NO_FALLBACK if directive not in named}
    return "; ".join(part for part in (own.strip().rstrip(";"), policy_text(missing)) if part)


def is_static() -> bool:
    """Tell whether the request is for a static file (the app's or a blueprint's), the one thing worth caching."""
    endpoint = request.endpoint or ""
    return endpoint == "static" or endpoint.endswith(".static")


def register(app: Flask) -> None:
    """Send the security headers on every response of `app`: pages, JSON, files, PDFs and error pages alike."""
    site_policy = policy_text()

    @app.after_request
    def _security_headers(response: Response) -> Response:
        own = response.headers.get("Content-Security-Policy")
        response.headers["Content-Security-Policy"] = completed(own) if own else site_policy
        for name, value in OTHER_HEADERS.items():
            response.headers.setdefault(name, value)
        if not is_static() and NO_STORE not in response.headers.get("Cache-Control", ""):
            response.headers["Cache-Control"] = NO_STORE
        if current_app.config["SESSION_COOKIE_SECURE"]:
            response.headers["Strict-Transport-Security"] = HSTS
        # A server name and version tell an attacker which exploits to try; none is sent from here (the servers
        # that add their own are configured in webapp/demo_server.py and the README's production section).
        response.headers.pop("Server", None)
        return response
