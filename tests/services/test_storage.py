"""Stored files behave the same on disk and in an S3 bucket: kept with their transaction, read back only through
the app, refused names never reach the backend. S3 runs against moto's server on a loopback port."""

import re

import boto3
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import select

from services import applications, materials
from services.filestore import DiskFileStore, S3FileStore, store_for
from services.uploads import UploadLimits
from tests.fixtures import csrf_token, post_form, sign_in
from tests.samples import photo

BUCKET = "birthreg-files"
PREFIX = "uploads/"
JPEG = b"\xff\xd8\xff\xe0 not really a photo, just bytes to keep"


@pytest.fixture(scope="module")
def s3_endpoint():
    """An S3 API (moto's server) on a free loopback port, for the whole module."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_credentials(monkeypatch):
    """Credentials from the standard AWS environment variables, as a deployment would give them."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def bucket(s3_endpoint, aws_credentials):  # noqa: ARG001 - the credentials must be in the environment
    """An empty private bucket; yields a client that looks at it from outside the app."""
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _s3_settings(endpoint: str) -> dict:
    return {"UPLOAD_STORAGE": "s3", "S3_BUCKET": BUCKET, "S3_PREFIX": PREFIX, "S3_ENDPOINT_URL": endpoint,
            "S3_SERVER_SIDE_ENCRYPTION": "AES256", "UPLOAD_DIR": "/nonexistent"}


@pytest.fixture
def tx(memory_session):
    """A session in a transaction (as a request's is when it stores a file), on a database of no tables."""
    session = memory_session()
    session.connection()
    return session


@pytest.fixture(params=["disk", "s3"])
def backend(request, tmp_path):
    """The store under test and a way to list what it holds, built from settings as the app builds it."""
    if request.param == "disk":
        store = store_for({"UPLOAD_STORAGE": "local", "UPLOAD_DIR": tmp_path})

        def held():
            return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    else:
        client = request.getfixturevalue("bucket")
        store = store_for(_s3_settings(request.getfixturevalue("s3_endpoint")))

        def held():
            listed = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
            return sorted(item["Key"].removeprefix(PREFIX) for item in listed)
    return store, held


def test_a_file_saved_in_a_committed_transaction_is_kept_and_read_back(backend, tx):
    store, held = backend
    name = store.save(tx, JPEG, ".jpg")
    assert re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{32}\.jpg", name)
    tx.commit()
    assert held() == [name]
    assert store.read(name) == JPEG


def test_a_file_saved_in_a_rolled_back_transaction_is_removed(backend, tx):
    store, held = backend
    store.save(tx, JPEG, ".jpg")
    tx.rollback()
    assert held() == []


def test_a_removed_file_goes_only_when_the_removal_commits(backend, tx):
    store, held = backend
    name = store.save(tx, JPEG, ".jpg")
    tx.commit()
    tx.connection()
    store.remove_after_commit(tx, name)
    tx.rollback()
    assert held() == [name], "a rolled-back removal keeps the file"
    tx.connection()
    store.remove_after_commit(tx, name)
    assert held() == [name], "still there until the commit"
    tx.commit()
    assert held() == []
    with pytest.raises(FileNotFoundError):
        store.read(name)


def test_a_discarded_file_goes_at_once_and_the_rest_of_the_transaction_keeps_its_files(backend, tx):
    store, held = backend
    kept = store.save(tx, JPEG, ".jpg")
    dropped = store.save(tx, b"%PDF-1.4", ".pdf")
    store.discard(tx, [dropped])
    assert held() == [kept]
    tx.commit()
    assert held() == [kept]


@pytest.mark.parametrize("name", ["../secret.jpg", "ab/../../etc.jpg", "AB/" + "0" * 32 + ".jpg",
                                  "ab/" + "0" * 32 + ".exe"])
def test_names_the_store_did_not_make_are_refused_before_the_backend_sees_them(backend, name):
    store, _held = backend
    with pytest.raises(ValueError, match="not a stored file name"):
        store.open(name)


def test_objects_are_encrypted_at_rest_and_not_public(bucket, s3_endpoint, tx):
    store = store_for(_s3_settings(s3_endpoint))
    assert isinstance(store, S3FileStore)
    name = store.save(tx, JPEG, ".jpg")
    tx.commit()
    head = bucket.head_object(Bucket=BUCKET, Key=PREFIX + name)
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "image/jpeg"
    grants = bucket.get_object_acl(Bucket=BUCKET, Key=PREFIX + name)["Grants"]
    assert not [g for g in grants if "AllUsers" in g["Grantee"].get("URI", "")]


def test_the_local_setting_keeps_files_under_the_upload_directory(tmp_path):
    store = store_for({"UPLOAD_STORAGE": "local", "UPLOAD_DIR": tmp_path})
    assert isinstance(store, DiskFileStore)
    assert store.path("ab/" + "0" * 32 + ".png") == tmp_path / "ab" / ("0" * 32 + ".png")


# -- through the app ----------------------------------------------------------------------------------------------


@pytest.fixture(params=["disk", "s3"])
def app_storage(request, app, monkeypatch):
    """The app keeping its files on disk or in the bucket (the setting is read per request)."""
    if request.param == "s3":
        request.getfixturevalue("bucket")
        for key, value in _s3_settings(request.getfixturevalue("s3_endpoint")).items():
            if key != "UPLOAD_DIR":
                monkeypatch.setitem(app.config, key, value)
    return request.param


def test_an_uploaded_photo_is_served_to_its_applicant_only_through_the_app(app_storage, app, client, people,
                                                                         deployed, session):  # noqa: ARG001
    sign_in(client, people.citizen)
    post_form(client, "/apply", "/apply", {"read": "y"})
    types = client.get("/apply/types")
    draft_url = client.post("/apply/new/first_child", data={"csrf_token": csrf_token(types.text)}).location
    token = draft_url.rsplit("/", 1)[1]
    application = session.scalar(select(applications.ApplicationModel)
                                 .where(applications.ApplicationModel.token == token))
    material = materials.add_material(session, store_for(app.config), application, "id_card", photo(), "id.jpg",
                                      limits=UploadLimits(), max_per_kind=5)
    session.commit()
    stored = store_for(app.config).read(material.stored_name)

    served = client.get(f"/materials/{material.token}")
    assert served.status_code == 200
    assert served.data == stored
    assert served.headers["Content-Type"] == "image/jpeg"
    assert "no-store" in served.headers["Cache-Control"]
    assert client.get(f"/materials/{material.token}/thumb").status_code == 200

    stranger = app.test_client()
    assert stranger.get(f"/materials/{material.token}").status_code in {302, 401}, "signed-out: sign in first"

    client.post(f"{draft_url}/delete", data={"csrf_token": csrf_token(client.get("/my").text)})
    with pytest.raises(FileNotFoundError):
        store_for(app.config).read(material.stored_name)
