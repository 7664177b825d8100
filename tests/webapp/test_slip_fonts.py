"""The first slip after a fresh install is as fast as the rest: its fonts are made ready before anyone asks."""

import threading
import time
from datetime import date

import pytest
from flask import Flask

from processes.roles import CITIZEN
from services import identity, pdf_fonts, slips
from services import people as persons
from services.codes import FEMALE, MALE
from tests.fixtures import decide, refreshed, sign_in
from webapp.slips import bp as slips_bp
from webapp.slips import font_cache_dir

FIRST_SLIP_SECONDS = 2.0
WOMAN_ID = "11010119900307152" + identity.check_character("11010119900307152")
MAN_ID = "11010119880512341" + identity.check_character("11010119880512341")


def _as_a_new_process() -> None:
    """Forget what this process learnt about the fonts, as a freshly started server would not know it."""
    pdf_fonts._noto_characters.cache_clear()  # noqa: SLF001
    pdf_fonts._noto_sc_number.cache_clear()  # noqa: SLF001
    pdf_fonts._configured_characters.cache_clear()  # noqa: SLF001
    slips._fixed_text.cache_clear()  # noqa: SLF001


@pytest.fixture
def fresh_instance(app, tmp_path, monkeypatch):
    """An empty instance folder, as a new installation has, and no font knowledge in memory."""
    monkeypatch.setattr(app, "instance_path", str(tmp_path / "instance"))
    _as_a_new_process()
    assert not font_cache_dir(app).exists()
    return app


@pytest.fixture
def approved(session, people, submit):
    """An approved first-child case whose spouses are persons with names the fixed faces do not hold."""
    case = submit()
    woman = persons.ensure_person(session, WOMAN_ID, date(1990, 3, 7), FEMALE)
    man = persons.ensure_person(session, MAN_ID, date(1988, 5, 12), MALE)
    details = {"phone": "13800000001", "employer": "", "employer_phone": "", "marital_status": "21",
               "hukou_division": case.hukou_division, "residence_division": case.residence_division}
    persons.record_claim(session, case.id, {
        "woman": {**details, "name": "欧阳娜娜", "ethnicity": "01", "id_number": WOMAN_ID},
        "man": {**details, "name": "诸葛亮", "ethnicity": "11", "id_number": MAN_ID}, "children": []}, "test")
    case.woman_id, case.man_id = woman.id, man.id
    session.commit()
    case = refreshed(session, case)
    for step, crew, decision in (("verify_hukou", people.hukou, "verified"),
                                 ("verify_residence", people.residence, "verified"),
                                 ("township_audit", people.township, "approved")):
        case = decide(session, case, step, crew, decision)
    assert case.status == "登记成功"
    return case


def test_after_flask_init_the_first_slip_downloads_in_under_two_seconds(fresh_instance, approved, people, client):
    result = fresh_instance.test_cli_runner().invoke(args=["init"])
    assert result.exit_code == 0, result.output
    assert "已准备登记单字体" in result.output
    assert sorted(path.name.split("-")[0] for path in font_cache_dir(fresh_instance).glob("*.ttf")) == [
        "SlipSans", "SlipSans"]
    _as_a_new_process()  # the server is another process than `flask init`
    assert people.citizen.role == CITIZEN
    sign_in(client, people.citizen)

    started = time.perf_counter()
    response = client.get(f"/slips/{approved.case_number}.pdf")
    seconds = time.perf_counter() - started
    assert response.status_code == 200
    assert response.data.startswith(b"%PDF")
    assert seconds < FIRST_SLIP_SECONDS, f"the first slip took {seconds:.1f} s"


def test_an_app_start_prepares_the_fonts_in_the_background(tmp_path):
    """A deployment that skipped `flask init` (or lost its instance folder) has them ready shortly after it starts."""
    _as_a_new_process()
    started = Flask(__name__, instance_path=str(tmp_path))
    started.config["PDF_FONT"] = ""
    started.register_blueprint(slips_bp)
    preparing = next(thread for thread in threading.enumerate() if thread.name == "slip-fonts")
    preparing.join(timeout=120)
    assert not preparing.is_alive()
    assert len(list(font_cache_dir(started).glob("SlipSans-*.ttf"))) == 2


def test_tests_and_their_many_apps_start_no_preparation(tmp_path):
    quiet = Flask(__name__, instance_path=str(tmp_path))
    quiet.config.update(TESTING=True, PDF_FONT="")
    quiet.register_blueprint(slips_bp)
    assert not any(thread.name == "slip-fonts" for thread in threading.enumerate())
    assert not font_cache_dir(quiet).exists()
