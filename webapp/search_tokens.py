"""Search tokens: what a search form posted, sealed, so a result page can be reloaded and paged without it in the URL.

A search by ID number is posted, never sent in a query string: URLs land in access logs, proxies and the browser's
history. The view seals the posted values (AES-GCM, services.crypto) with the account and the time, and redirects to
the result page with the token; the token opens only for the same account and only for `MAX_AGE`.
"""

import json
import time
from typing import Any

from services import crypto

MAX_AGE_SECONDS = 30 * 60
EXPIRED = "搜索条件已过期，请重新搜索"


def seal(values: dict[str, Any], account_id: int) -> str:
    """Return a URL-safe token carrying `values` for `account_id`."""
    return crypto.encrypt(json.dumps({"v": values, "u": account_id, "t": int(time.time())}, ensure_ascii=False))


def open_token(token: str, account_id: int) -> dict[str, Any] | None:
    """Return the values sealed in `token`, or None when it is not a token of this account or has expired."""
    try:
        sealed = json.loads(crypto.decrypt(token))
    except Exception:  # noqa: BLE001 - a forged, truncated or foreign token is simply no search
        return None
    if not isinstance(sealed, dict) or sealed.get("u") != account_id or not isinstance(sealed.get("v"), dict):
        return None
    if not isinstance(sealed.get("t"), int) or time.time() - sealed["t"] > MAX_AGE_SECONDS:
        return None
    return sealed["v"]
