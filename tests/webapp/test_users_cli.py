"""`flask users create-staff`: a staff account from the command line, checked before anything is written."""

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from processes.demo import HUKOU_VILLAGE, TOWNSHIP
from services import accounts
from services.db import db

PASSWORD = "Staff@2026"


@pytest.fixture
def runner(app):
    """Flask's CLI runner on the test app."""
    return app.test_cli_runner()


def create_staff(runner, *, phone="13900000099", name="钱社区", role="village_staff", division=HUKOU_VILLAGE,
                 password=PASSWORD, prompted=None):
    """Run `flask users create-staff`; `prompted` is typed at the password prompts instead of `--password`."""
    args = ["users", "create-staff", "--phone", phone, "--name", name, "--role", role, "--division", division]
    if prompted is None:
        args += ["--password", password]
    return runner.invoke(args=args, input=prompted)


def account_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(accounts.UserModel))


def test_creates_a_village_staff_account_that_can_sign_in(app, runner):
    result = create_staff(runner)
    assert result.exit_code == 0, result.output
    place = "北京市东城区东华门街道多福巷社区居委会"
    assert f"已创建工作人员账号：钱社区（村（居）工作人员，{place}），手机号码 13900000099" in result.output
    with app.app_context():
        user = accounts.find_by_phone(db.session, "13900000099")
        assert (user.name, user.role, user.division_code) == ("钱社区", "village_staff", HUKOU_VILLAGE)
        assert check_password_hash(user.password_hash, PASSWORD)
        assert user.active
        signed_in = accounts.authenticate(db.session, "13900000099", PASSWORD)
        assert signed_in.id == user.id


def test_the_password_is_asked_twice_and_not_echoed(app, runner):
    result = create_staff(runner, role="township_staff", division=TOWNSHIP, prompted=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert "再次输入密码" in result.output
    with app.app_context():
        user = accounts.find_by_phone(db.session, "13900000099")
        assert check_password_hash(user.password_hash, PASSWORD)


def test_two_different_passwords_at_the_prompt_create_nothing(app, runner):
    result = create_staff(runner, prompted=f"{PASSWORD}\nOther@2026\n")
    assert result.exit_code != 0
    assert "两次输入的密码不一致" in result.output
    assert account_count(app) == 0


@pytest.mark.parametrize(("options", "message"), [
    ({"role": "citizen"}, "角色 'citizen' 不是工作人员角色，可选：village_staff（村（居）工作人员）"),
    ({"role": "hacker"}, "角色 'hacker' 不是工作人员角色"),
    ({"division": "110101001999"}, "没有代码为 110101001999 的行政区划"),
    ({"role": "township_staff", "division": HUKOU_VILLAGE},
     "乡镇（街道）工作人员的所属区划应为 9 位代码，110101001001（多福巷社区居委会）是 12 位"),
    ({"role": "village_staff", "division": TOWNSHIP}, "村（居）工作人员的所属区划应为 12 位代码"),
    ({"role": "county_official", "division": "11"}, "县级卫生健康部门的所属区划应为 6 位代码"),
    ({"phone": "1390000009"}, "手机号码 '1390000009' 无效：应为以 1 开头的 11 位数字"),
    ({"phone": "23900000099"}, "无效"),
    ({"name": "  "}, "姓名不能为空"),
    ({"name": "长" * 51}, "不超过 50 个字"),
    ({"password": "staff2026"}, "密码不符合要求：密码需包含大写字母、小写字母、数字、其他符号中的至少 3 类"),
    ({"password": "Ab1!"}, "密码不符合要求：密码至少 8 位"),
])
def test_bad_input_is_refused_with_a_message_and_nothing_is_written(app, runner, options, message):
    result = create_staff(runner, **options)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert account_count(app) == 0


def test_a_phone_already_in_use_is_refused(app, runner):
    assert create_staff(runner).exit_code == 0
    result = create_staff(runner, name="另一人", role="township_staff", division=TOWNSHIP)
    assert result.exit_code != 0
    assert "手机号码 13900000099 已被其他账号使用" in result.output
    assert account_count(app) == 1


def test_bad_options_are_refused_before_the_password_is_asked(runner):
    result = create_staff(runner, role="citizen", prompted="")
    assert result.exit_code != 0
    assert "不是工作人员角色" in result.output
    assert "密码" not in result.output.split("不是工作人员角色")[0], "no prompt came first"


def test_roles_without_a_division_level_accept_any_existing_division(app, runner):
    result = create_staff(runner, role="system_admin", division="11")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert accounts.find_by_phone(db.session, "13900000099").role == "system_admin"
