"""`celery -A tests.webapp.slow_sms_worker worker`: the production worker, whose first SMS takes SLOW_SMS_SECONDS.

So a test can stop the broker while a task is in flight (tests/webapp/test_celery_outage.py).
"""

import os
import time

from services import notifications
from webapp.celery_worker import celery, flask_app  # noqa: F401 - the app `celery -A` loads

_record = notifications.PROVIDERS["record"]
_slow = {"left": 1}


def _slow_first(session, phone, text):
    if _slow["left"]:
        _slow["left"] -= 1
        time.sleep(float(os.environ.get("SLOW_SMS_SECONDS", "10")))
    return _record(session, phone, text)


notifications.PROVIDERS["record"] = _slow_first
