"""Back up and restore as the README's runbook says: pg_dump of the database and a copy of UPLOAD_DIR, restored into
another database and folder; the restored site opens the case, its material and its slip."""

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from processes import applying
from services import applications, materials
from services.filestore import DiskFileStore
from services.uploads import UploadLimits
from tests.applications import answers
from tests.fixtures import decide
from tests.samples import photo

ROOT = Path(__file__).resolve().parents[2]

# Run in a process of its own: the restored site is another app on another database, as after a real restore.
OPEN_RESTORED = """
import sys
from types import SimpleNamespace
from webapp import create_app
from tests.fixtures import sign_in

database_url, upload_dir, instance_dir, case_number, material_token = sys.argv[1:6]
app = create_app(DATABASE_URL=database_url, UPLOAD_DIR=upload_dir, INSTANCE_DIR=instance_dir, SECRET_KEY="restore",
                 TICK_SECONDS=0, TESTING=True)
client = app.test_client()
sign_in(client, SimpleNamespace(phone="13800000001", role="citizen"), password="Test@12345")
case_page = client.get(f"/my/cases/{case_number}")
slip = client.get(f"/slips/{case_number}.pdf")
material = client.get(f"/materials/{material_token}")
verify = app.test_cli_runner().invoke(args=["audit", "verify"])
print(case_page.status_code, case_number in case_page.text, slip.status_code, slip.data[:5] == b"%PDF-",
      material.status_code, len(material.data), verify.exit_code)
"""


def _libpq(url) -> str:
    """Return a SQLAlchemy URL as the libpq connection string pg_dump and pg_restore take."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def restore_database(app):
    """An empty private database beside the test database (`<name>_restore`), dropped afterwards."""
    source = make_url(app.config["DATABASE_URL"])
    target = source.set(database=f"{source.database}_restore")
    server = create_engine(source.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}"'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    yield target
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    server.dispose()


@pytest.fixture
def registered_case_with_material(app, session, people, deployed):  # noqa: ARG001
    """A registered first-child case of the demo citizen with one uploaded photo and its slip."""
    draft = applications.start(session, people.citizen.id, "first_child")
    material = materials.add_material(session, DiskFileStore(app.config["UPLOAD_DIR"]), draft, "id_card", photo(),
                                      "id.jpg", limits=UploadLimits(), max_per_kind=5)
    case = applying.submit(session, people.citizen, draft.token, answers(same_village=True))
    session.commit()
    decide(session, case, "verify_both", people.hukou, "verified")
    case = decide(session, case, "township_audit", people.township, "approved")
    return case, material


@pytest.mark.postgres
def test_a_restored_backup_opens_the_case_its_material_and_its_slip(app, registered_case_with_material,
                                                                   restore_database, tmp_path):
    case, material = registered_case_with_material
    source = make_url(app.config["DATABASE_URL"])
    uploads = Path(app.config["UPLOAD_DIR"])
    material_size = sum(path.stat().st_size for path in uploads.rglob("*") if path.is_file())
    assert material_size > 0

    # Back up: the database in pg_dump's custom format, the uploads as one archive.
    dump, archive = tmp_path / "birthreg.dump", tmp_path / "uploads.tar.gz"
    subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", _libpq(source)], check=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(uploads, arcname=".")

    # Restore into another database and folder.
    subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_libpq(restore_database)}", str(dump)],
                   check=True)
    restored_uploads = tmp_path / "restored-uploads"
    with tarfile.open(archive) as tar:
        tar.extractall(restored_uploads, filter="data")

    opened = subprocess.run(
        [sys.executable, "-c", OPEN_RESTORED, restore_database.render_as_string(hide_password=False),
         str(restored_uploads), str(app.config["INSTANCE_DIR"]), case.case_number, material.token],
        cwd=ROOT, env={**os.environ, "BACKGROUND": "inline"}, capture_output=True, text=True, check=False)
    assert opened.returncode == 0, opened.stderr[-3000:]
    case_status, names_case, slip_status, is_pdf, material_status, material_bytes, audit_exit = \
        opened.stdout.split()[-7:]
    assert (case_status, names_case) == ("200", "True")
    assert (slip_status, is_pdf) == ("200", "True")
    assert material_status == "200"
    assert int(material_bytes) > 0
    assert audit_exit == "0"  # the audit chain survived the round trip
