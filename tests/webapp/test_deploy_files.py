"""The deployment files: gunicorn's settings, the systemd units, the nginx site and the environment file say what
production needs; gunicorn really serves the app with its settings."""

import configparser
import json
import os
import re
import runpy
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from webapp.config import from_environment

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = {name: DEPLOY / "systemd" / f"birthreg-{name}.service" for name in ("web", "worker", "beat")}
NGINX_SITE = DEPLOY / "nginx" / "birthreg.conf"
PROXY_PARAMS = DEPLOY / "nginx" / "birthreg_proxy_params"


def _gunicorn_settings(monkeypatch, **env) -> dict:
    for name in [n for n in os.environ if n.startswith("GUNICORN_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))


def test_gunicorn_defaults_suit_two_cores_behind_nginx(monkeypatch):
    settings = _gunicorn_settings(monkeypatch)
    assert settings["bind"].startswith("127.0.0.1:")  # only nginx reaches it
    assert settings["workers"] >= 2
    assert settings["threads"] >= 2
    assert settings["worker_class"] == "gthread"
    assert 30 <= settings["timeout"] <= 120
    assert 0 < settings["graceful_timeout"] <= settings["timeout"]
    assert settings["max_requests"] > 0
    assert 0 < settings["max_requests_jitter"] < settings["max_requests"]
    assert settings["preload_app"] is False


def test_gunicorn_settings_come_from_the_environment(monkeypatch):
    settings = _gunicorn_settings(monkeypatch, GUNICORN_WORKERS="5", GUNICORN_THREADS="8", GUNICORN_TIMEOUT="90",
                                  GUNICORN_BIND="127.0.0.1:9100")
    assert (settings["workers"], settings["threads"], settings["timeout"], settings["bind"]) == (
        5, 8, 90, "127.0.0.1:9100")


def test_the_access_log_format_has_no_query_string_nor_referer(monkeypatch):
    access = _gunicorn_settings(monkeypatch)["access_log_format"]
    assert "%(U)s" in access  # the path alone
    for leaky in ("%(r)s", "%(q)s", "%(f)s", "{referer}"):
        assert leaky not in access


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(path)
    return parser


@pytest.mark.parametrize("name", sorted(UNITS))
def test_each_unit_restarts_runs_as_its_own_user_and_is_hardened(name):
    service = _unit(UNITS[name])["Service"]
    assert service["Restart"] == "always"
    assert service["User"] == "birthreg"
    assert service["EnvironmentFile"] == "/etc/birthreg/birthreg.env"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "yes"
    assert "/var/lib/birthreg/instance" in service["ReadWritePaths"].split()


@pytest.mark.parametrize("name", ["web", "worker"])
def test_the_web_and_the_worker_may_write_uploads(name):
    assert "/var/lib/birthreg/uploads" in _unit(UNITS[name])["Service"]["ReadWritePaths"].split()


def test_the_units_start_gunicorn_with_its_settings_and_celery_worker_and_beat():
    starts = {name: _unit(path)["Service"]["ExecStart"] for name, path in UNITS.items()}
    assert "gunicorn -c deploy/gunicorn.conf.py 'webapp:create_app()'" in starts["web"]
    assert "celery -A webapp.celery_worker worker" in starts["worker"]
    assert "celery -A webapp.celery_worker beat" in starts["beat"]


def test_the_environment_file_names_only_settings_that_exist():
    known = set(from_environment()) | {"BIRTHREG_INSTANCE_DIR", "PROMETHEUS_MULTIPROC_DIR"}
    names = [line.split("=", 1)[0] for line in (DEPLOY / "birthreg.env.example").read_text().splitlines()
             if line and not line.startswith("#")]
    unknown = [name for name in names if name not in known and not name.startswith("GUNICORN_")]
    assert unknown == []
    assert {"DATABASE_URL", "BACKGROUND", "PUBLIC_BASE_URL", "SESSION_COOKIE_SECURE", "TRUSTED_PROXIES",
            "LOG_FORMAT"} <= set(names)


def _directive(text: str, name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+([^;]+);", text, flags=re.MULTILINE)


def test_the_nginx_site_has_the_essentials():
    site = NGINX_SITE.read_text()
    params = PROXY_PARAMS.read_text()
    assert _directive(site, "client_max_body_size") == [f"{from_environment()['MAX_REQUEST_MB']}m"]
    [static] = _directive(site, "alias")
    assert static.endswith("/webapp/static/")
    assert (ROOT / "webapp" / "static").is_dir()
    assert any("Strict-Transport-Security" in header for header in _directive(site, "add_header"))
    assert "443 ssl" in site
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for" in params
    assert "proxy_set_header X-Forwarded-Proto $scheme" in params
    assert "proxy_set_header Host $host" in params
    assert _directive(params, "proxy_read_timeout")
    # The access log keeps the path only ($uri), never the request line with its query.
    [log_format] = re.findall(r"log_format birthreg (.*?);", site, flags=re.DOTALL)
    assert "$uri" in log_format
    for leaky in ("$request ", "$request_uri", "$args", "$http_referer"):
        assert leaky not in log_format
    metrics = re.search(r"location = /metrics \{(.*?)\}", site, flags=re.DOTALL).group(1)
    assert "deny all" in metrics


@pytest.mark.skipif(not shutil.which("nginx") and not os.environ.get("CI"),
                    reason="needs nginx to check the site's syntax: apt-get install nginx")
def test_nginx_accepts_the_site(tmp_path):
    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test",
                    "-keyout", str(key), "-out", str(certificate)], check=True, capture_output=True)
    site = (NGINX_SITE.read_text().replace("/etc/ssl/birthreg/fullchain.pem", str(certificate))
            .replace("/etc/ssl/birthreg/privkey.pem", str(key))
            .replace("/etc/nginx/birthreg_proxy_params", str(PROXY_PARAMS))
            .replace("/var/log/nginx/", f"{tmp_path}/"))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n include /etc/nginx/mime.types;\n include {tmp_path}/site.conf;\n}}\n")
    result = subprocess.run(["nginx", "-t", "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, headers: dict | None = None) -> tuple[int, dict, str]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - a loopback URL built above
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read().decode()


@pytest.fixture
def gunicorn(app, tmp_path):
    """gunicorn started with deploy/gunicorn.conf.py on a free loopback port, on the test database."""
    port = _free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {**os.environ, "DATABASE_URL": app.config["DATABASE_URL"], "SECRET_KEY": "test",
           "BIRTHREG_INSTANCE_DIR": str(app.config["INSTANCE_DIR"]), "GUNICORN_BIND": f"127.0.0.1:{port}",
           "GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "2", "GUNICORN_ACCESS_LOG": str(tmp_path / "access.log"),
           "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "LOG_FORMAT": "json", "TICK_SECONDS": "0"}
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                                    "webapp:create_app()"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    if _get(f"{base}/healthz")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.2)
            assert process.poll() is None, log.read_text()[-3000:]
            yield base, tmp_path, log
        finally:
            process.terminate()
            process.wait(timeout=40)


@pytest.mark.postgres
def test_gunicorn_serves_the_app_with_the_deployed_settings(gunicorn):
    base, folder, log = gunicorn
    status, _headers, body = _get(f"{base}/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, _headers, body = _get(f"{base}/readyz")
    assert status == 200, body
    status, headers, body = _get(f"{base}/", {"X-Request-ID": "gunicorn-test-01"})
    assert status == 200
    assert "生育登记" in body
    assert headers["X-Request-ID"] == "gunicorn-test-01"
    assert headers["Server"] == "gunicorn"  # no version: nginx replaces it with its own
    _get(f"{base}/track?phone=13800000001")
    # Both workers' counts are added up in the multiprocess directory.
    for _ in range(6):
        _get(f"{base}/")
    status, _headers, metrics = _get(f"{base}/metrics")
    assert status == 200
    [count] = re.findall(r'birthreg_http_request_duration_seconds_count\{endpoint="portal.index",'
                         r'status_class="2xx"\} (\S+)', metrics)
    assert float(count) == 7
    time.sleep(0.5)  # log lines are written as requests end
    access = (folder / "access.log").read_text()
    assert "GET /track HTTP/1.1" in access
    assert "13800000001" not in access
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    [page] = [line for line in lines if line.get("request_id") == "gunicorn-test-01" and line.get("path") == "/"]
    assert page["status"] == 200
    assert "13800000001" not in log.read_text()
