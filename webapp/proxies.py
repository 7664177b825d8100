"""The client's address and scheme behind reverse proxies (TRUSTED_PROXIES), with Werkzeug's ProxyFix.

Behind nginx every request's peer is nginx. With TRUSTED_PROXIES=N the app believes the last N entries of
X-Forwarded-For (the ones the N proxies appended; whatever a client wrote before them is ignored) and
X-Forwarded-Proto, so rate limits, sign-in records, the audit trail and /metrics see the client's address. The Host
header is not taken from X-Forwarded-Host: nginx passes the original Host through, and TRUSTED_HOSTS checks it.
With 0 (the embedded default) nothing forwarded is believed. The app must then not be reachable except through
those proxies (gunicorn listens on the loopback, see deploy/gunicorn.conf.py), or a client could claim any address.
"""

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def register(app: Flask) -> None:
    """Wrap `app` so that it reads the client's address and scheme from its TRUSTED_PROXIES proxies (if any)."""
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)
