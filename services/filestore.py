"""Stored files (proof materials) beside the database rows that name them, written and removed with the transaction.

One interface, `FileStore`, with two backends: a directory on disk (`DiskFileStore`, the embedded default or a
shared volume) and an S3 bucket (`S3FileStore`, any S3-compatible object store). A file is written under a random
name once its row is valid; if the transaction then does not commit, the file is removed again, so no file outlives
a row that was never stored. A file whose row is deleted is removed only after the commit, so no stored row names a
file that is gone. Files are only ever read back through the store (the app's authorised views stream them): no
backend hands out a public address.
"""

import os
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

PENDING_KEY = "filestore_pending"
# Two hex digits of directory, then 32 hex digits: a name the store made, never one a user chose.
_NAME = re.compile(r"[0-9a-f]{2}/[0-9a-f]{32}\.(?:jpg|png|pdf)")
CONTENT_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".pdf": "application/pdf"}


@dataclass
class _Pending:
    """What the session's transaction did to the stores, to settle when it ends."""

    written: list[tuple["FileStore", str]] = field(default_factory=list)
    doomed: list[tuple["FileStore", str]] = field(default_factory=list)


def checked_name(name: str) -> str:
    """Return `name` if the store could have made it; anything else (a path a user chose) is refused."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a stored file name: {name!r}")
    return name


class FileStore(ABC):
    """Files under random names, kept or removed with the session's transaction."""

    @abstractmethod
    def _write(self, name: str, content: bytes) -> None:
        """Store `content` under `name`, all of it or nothing (a reader never sees a partial file)."""

    @abstractmethod
    def _remove(self, name: str) -> None:
        """Remove the file `name`; one already gone is no error."""

    @abstractmethod
    def open(self, name: str) -> BinaryIO:
        """Return the stored file to read (the caller closes it); FileNotFoundError when there is none."""

    def save(self, session: Session, content: bytes, suffix: str) -> str:
        """Write `content` under a new random name and return the name; removed again unless the session commits."""
        token = secrets.token_hex(16)
        name = checked_name(f"{token[:2]}/{token}{suffix}")
        self._write(name, content)
        _pending(session).written.append((self, name))
        return name

    def read(self, name: str) -> bytes:
        """Return a stored file's content; FileNotFoundError when there is none."""
        with self.open(name) as stored:
            return stored.read()

    def remove_after_commit(self, session: Session, name: str) -> None:
        """Remove a stored file once the session's transaction commits."""
        _pending(session).doomed.append((self, checked_name(name)))

    def discard(self, session: Session, names: list[str]) -> None:
        """Remove files written in this transaction now (their row was given up before the end of it)."""
        pending = _pending(session)
        for name in names:
            self._remove(checked_name(name))
            pending.written = [(store, kept) for store, kept in pending.written if (store, kept) != (self, name)]


class DiskFileStore(FileStore):
    """A directory of files (INSTANCE_DIR/uploads, or a volume every web worker mounts)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, name: str) -> Path:
        """Return where a stored file lives; a name the store did not make is refused."""
        return self.root / checked_name(name)

    def _write(self, name: str, content: bytes) -> None:
        target = self.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        try:
            partial.write_bytes(content)
            # Readers never see a half-written file: the name appears only once every byte is there.
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    def _remove(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def open(self, name: str) -> BinaryIO:
        """Return the stored file opened for reading; FileNotFoundError when there is none."""
        return self.path(name).open("rb")


class S3FileStore(FileStore):
    """Objects in one bucket under a prefix, never public: the app reads each one back to serve it.

    `server_side_encryption` (AES256 or aws:kms) asks the object store to encrypt every object at rest. Credentials
    come from the standard AWS sources (environment, ~/.aws/config and credentials, an instance role).
    """

    def __init__(self, bucket: str, *, prefix: str = "", endpoint_url: str | None = None,
                 server_side_encryption: str = "", client: Any = None):
        if client is None:
            import boto3  # only deployments that keep files in S3 need it loaded

            client = boto3.client("s3", endpoint_url=endpoint_url or None)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.server_side_encryption = server_side_encryption

    def key(self, name: str) -> str:
        """Return the object key of a stored file; a name the store did not make is refused."""
        return f"{self.prefix}{checked_name(name)}"

    def _write(self, name: str, content: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        extra = {"ServerSideEncryption": self.server_side_encryption} if self.server_side_encryption else {}
        try:
            # A PUT is atomic: the object appears whole or not at all.
            self.client.put_object(Bucket=self.bucket, Key=self.key(name), Body=content,
                                   ContentType=CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream"),
                                   **extra)
        except (BotoCoreError, ClientError) as exc:
            # Callers handle a store that cannot write as they handle a full disk.
            raise OSError(f"object store refused {name}: {exc}") from exc

    def _remove(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(name))

    def open(self, name: str) -> BinaryIO:
        """Return the object's body as a stream; FileNotFoundError when there is none."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(name))["Body"]
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(name) from None


def store_for(config: Mapping[str, Any]) -> FileStore:
    """Return the store the settings name (UPLOAD_STORAGE, UPLOAD_DIR, S3_*)."""
    if config["UPLOAD_STORAGE"] == "s3":
        return S3FileStore(config["S3_BUCKET"], prefix=config["S3_PREFIX"],
                           endpoint_url=config["S3_ENDPOINT_URL"] or None,
                           server_side_encryption=config["S3_SERVER_SIDE_ENCRYPTION"])
    return DiskFileStore(config["UPLOAD_DIR"])


def _pending(session: Session) -> _Pending:
    return session.info.setdefault(PENDING_KEY, _Pending())


def _remove_all(files: list[tuple[FileStore, str]]) -> None:
    for store, name in files:
        store._remove(name)  # noqa: SLF001 - the transaction hooks settle what the stores deferred to them


# Listeners on the Session class apply to every session, whichever factory made it (requests, jobs, tests).
@event.listens_for(Session, "after_commit")
def _keep_written(session: Session) -> None:
    # A released savepoint also reports a commit; only the outermost transaction's commit is final.
    if session.in_nested_transaction():
        return
    pending: _Pending | None = session.info.pop(PENDING_KEY, None)
    _remove_all(pending.doomed if pending else [])


@event.listens_for(Session, "after_transaction_end")
def _remove_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    # Still pending at the end of the outermost transaction means it rolled back or was closed without a commit.
    if transaction.parent is not None:
        return
    pending: _Pending | None = session.info.pop(PENDING_KEY, None)
    _remove_all(pending.written if pending else [])
