"""Files kept on disk beside the database rows that name them, written and removed with the transaction.

A file is written under a random name once its row is valid; if the transaction then does not commit, the file is
removed again, so no file outlives a row that was never stored. A file whose row is deleted is removed only after
the commit, so no stored row names a file that is gone.
"""

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

PENDING_KEY = "filestore_pending"
# Two hex digits of directory, then 32 hex digits: a name the store made, never one a user chose.
_NAME = re.compile(r"[0-9a-f]{2}/[0-9a-f]{32}\.(?:jpg|png|pdf)")


@dataclass
class _Pending:
    """What the session's transaction did to the disk, to settle when it ends."""

    written: list[Path] = field(default_factory=list)
    doomed: list[Path] = field(default_factory=list)


class FileStore:
    """A directory of files with random names."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, name: str) -> Path:
        """Return where a stored file lives; a name the store did not make is refused."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a stored file name: {name!r}")
        return self.root / name

    def save(self, session: Session, content: bytes, suffix: str) -> str:
        """Write `content` under a new random name and return the name; removed again unless the session commits."""
        token = secrets.token_hex(16)
        name = f"{token[:2]}/{token}{suffix}"
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
        _pending(session).written.append(target)
        return name

    def remove_after_commit(self, session: Session, name: str) -> None:
        """Remove a stored file once the session's transaction commits."""
        _pending(session).doomed.append(self.path(name))

    def discard(self, session: Session, names: list[str]) -> None:
        """Remove files written in this transaction now (their row was given up before the end of it)."""
        pending = _pending(session)
        for name in names:
            path = self.path(name)
            path.unlink(missing_ok=True)
            if path in pending.written:
                pending.written.remove(path)


def _pending(session: Session) -> _Pending:
    return session.info.setdefault(PENDING_KEY, _Pending())


# Listeners on the Session class apply to every session, whichever factory made it (requests, jobs, tests).
@event.listens_for(Session, "after_commit")
def _keep_written(session: Session) -> None:
    # A released savepoint also reports a commit; only the outermost transaction's commit is final.
    if session.in_nested_transaction():
        return
    pending: _Pending | None = session.info.pop(PENDING_KEY, None)
    for path in pending.doomed if pending else ():
        path.unlink(missing_ok=True)


@event.listens_for(Session, "after_transaction_end")
def _remove_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    # Still pending at the end of the outermost transaction means it rolled back or was closed without a commit.
    if transaction.parent is not None:
        return
    pending: _Pending | None = session.info.pop(PENDING_KEY, None)
    for path in pending.written if pending else ():
        path.unlink(missing_ok=True)
