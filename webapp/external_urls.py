"""Addresses that leave the site: links in emails, the slip's verification URL and QR code.

They are read later, outside this request, by someone who trusts them; so they are built from PUBLIC_BASE_URL, not
from the request's Host header, which the client chooses. On the embedded default (PUBLIC_BASE_URL empty) only
loopback hosts are served at all (TRUSTED_HOSTS, webapp/config.py), so the request's own address can only name this
machine.
"""

from flask import current_app, request, url_for


def base_url() -> str:
    """Return the site's address without a trailing slash: PUBLIC_BASE_URL, or the (loopback) request's."""
    configured = str(current_app.config["PUBLIC_BASE_URL"] or "")
    return (configured or request.host_url).rstrip("/")


def external_url(endpoint: str, **values) -> str:
    """Return the absolute URL of `endpoint` as people outside reach it, e.g. for an email or a printed slip."""
    return base_url() + url_for(endpoint, **values)
