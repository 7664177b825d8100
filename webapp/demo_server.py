"""The embedded default's web server (`flask start`): Werkzeug's development server, for demonstrations only.

Production serves the same app with gunicorn (`gunicorn 'webapp:create_app()'`, see the README) behind a reverse
proxy. This server is single-machine and unhardened; it is kept because it needs nothing installed beside the app.
"""

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, run_simple

from webapp.config import LOOPBACK_HOSTS, trusted_hosts

# Addresses that listen on every interface: people reach the server by names this process cannot know.
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}  # noqa: S104 - named to be refused without PUBLIC_BASE_URL
DEMO_NOTICE = "注意：这是仅供单机演示的开发服务器；正式部署请用 gunicorn 运行（见 README 的 Production 一节）"


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler without its `Server: Werkzeug/… Python/…` banner, which tells what to attack."""

    def send_header(self, keyword: str, value: str) -> None:
        """Send a header, except the server banner."""
        if keyword.lower() != "server":
            super().send_header(keyword, value)


class UnknownAddress(ValueError):
    """The server would listen where people reach it by an address PUBLIC_BASE_URL must name."""


def trust_listening_address(app: Flask, host: str, port: int) -> None:
    """Make the address the server listens on the site's address, unless PUBLIC_BASE_URL already names one.

    On a loopback address the loopback default stands (any of its names is served). A specific other address
    (`--host 192.168.1.10`) becomes PUBLIC_BASE_URL, so links and QR codes name it and a forged Host gets 400. On
    every interface (`--host 0.0.0.0`) the address people use cannot be known: raise UnknownAddress.
    """
    if app.config["PUBLIC_BASE_URL"] or host in LOOPBACK_HOSTS:
        return
    if host in WILDCARD_HOSTS or ":" in host:
        raise UnknownAddress(host)
    address = f"http://{host}:{port}"
    app.config.update(PUBLIC_BASE_URL=address, TRUSTED_HOSTS=trusted_hosts(address))


def serve(app: Flask, host: str, port: int) -> None:
    """Serve `app` with Werkzeug's development server, threaded like `flask run`, without a server banner."""
    # Flask refuses app.run() inside a CLI command; serve with Werkzeug directly.
    run_simple(host, port, app, threaded=True, request_handler=QuietRequestHandler)
