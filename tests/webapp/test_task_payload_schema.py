"""The API's generated schema for a task accepts what the task page would send: each staff task of the shipped
diagrams and of both proof diagrams is filled in on its page as a browser would (options the page offers, fields its
conditions show), the same answers as JSON are validated against GET /tasks/{id}'s payload_schema, and the page
then takes the post."""

from html.parser import HTMLParser

import jsonschema
import pytest

from processes.casework import open_tasks
from tests.fixtures import csrf_token, forget, refreshed
from tests.webapp.test_api import api  # noqa: F401 - the API client fixture
from tests.webapp.test_diagram_forms import SPOT_CHECK, VILLAGE_METHOD, deploy_through_the_upload_page
from tests.webapp.test_process_admin_pages import policy  # noqa: F401 - the policy admin's browser

SERVER_PREFIX = "/api/v1"
TEXT = "已核实户口簿与结婚证原件"


class TaskFormFields(HTMLParser):
    """The fields of the task form of a page: name → kind, options, attributes and display condition."""

    def __init__(self):
        super().__init__()
        self.inside = False
        self.fields: dict[str, dict] = {}
        self.condition: tuple[str, str, str] | None = None
        self.select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = "task-form" in (attrs.get("class") or "")
        if not self.inside:
            return
        if "data-show-field" in attrs:
            self.condition = (attrs["data-show-field"], attrs["data-show-operator"], attrs["data-show-value"])
        elif tag in {"div", "fieldset"} and "field" in (attrs.get("class") or "").split():
            self.condition = None
        name = attrs.get("name")
        if tag in {"input", "textarea", "select"} and name and name != "csrf_token":
            kind = attrs.get("type", "text") if tag == "input" else tag
            field = self.fields.setdefault(name, {"kind": kind, "options": [], "attrs": attrs,
                                                  "condition": self.condition})
            if kind == "radio":
                field["options"].append(attrs["value"])
            self.select = name if tag == "select" else None
        if tag == "option" and self.select and attrs.get("value"):
            self.fields[self.select]["options"].append(attrs["value"])

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def as_browser_fills(html: str, chosen: dict[str, str]) -> dict[str, str]:
    """Return what a person filling the task form of `html` posts: `chosen` options, else the first one; a valid
    text, number or date; nothing for a field its condition hides (task-form.js disables it)."""
    parser = TaskFormFields()
    parser.feed(html)
    assert parser.fields, "the page has a task form"
    posted = {}
    for name, field in parser.fields.items():
        attrs = field["attrs"]
        if field["options"]:
            posted[name] = chosen.get(name, field["options"][0])
        elif field["kind"] == "date":
            posted[name] = attrs.get("min") or "2026-03-01"
        elif attrs.get("inputmode") == "numeric":
            posted[name] = attrs.get("min") or "1"
        else:
            posted[name] = TEXT[: int(attrs.get("maxlength") or len(TEXT))]
    shown = {}
    for name, value in posted.items():
        condition = parser.fields[name]["condition"]
        if condition is None or (posted.get(condition[0]) == condition[2]) == (condition[1] == "=="):
            shown[name] = value
    return shown


def as_json(posted: dict[str, str], fields: list[dict]) -> dict:
    """Return the page's post as the JSON body of the same answers, typed as the API's form fields say."""
    kinds = {field["name"]: field["type"] for field in fields}
    convert = {"long": int, "boolean": lambda text: text == "true"}
    return {name: convert.get(kinds[name], str)(value) for name, value in posted.items()}


CHOICES = {"verify_hukou": {"decision": "verified", "verify_method": "home"},
           "county_spot_check": {"spot_result": "fail"}}


def walk_through_the_pages(session, case, browsers, api_clients) -> set[str]:
    """Do every staff task of the case on its page until none is left; return the steps done."""
    done = set()
    for _ in range(10):
        forget(session)
        tasks = [t for t in open_tasks(session, refreshed(session, case)) if t.role != "citizen"]
        if not tasks:
            return done
        task = tasks[0]
        who = {"township_staff": "township", "county_official": "county"}.get(task.role) or (
            "hukou" if task.division_code == case.hukou_division else "residence")
        page = browsers[who].get(f"/staff/tasks/{task.id}")
        assert page.status_code == 200, page.text
        posted = as_browser_fills(page.text, CHOICES.get(task.bpmn_id, {}))
        form = api_clients[who].get(f"{SERVER_PREFIX}/tasks/{task.id}").get_json()["form"]
        jsonschema.Draft202012Validator(form["payload_schema"]).validate(as_json(posted, form["fields"]))
        answer = browsers[who].post(f"/staff/tasks/{task.id}", data={"csrf_token": csrf_token(page.text), **posted})
        assert answer.status_code == 302, f"{task.bpmn_id}: the page refused {posted}"
        done.add(task.bpmn_id)
    pytest.fail("the case did not finish")


@pytest.fixture
def staff(session, people, browser_for, api):  # noqa: F811 - the fixture's value
    """Signed-in browsers and API clients of the village, township and county staff."""
    names = ("hukou", "residence", "township", "county")
    return {name: browser_for(name) for name in names}, {name: api(name) for name in names}


def test_the_shipped_registration_forms(session, submit, staff):
    done = walk_through_the_pages(session, submit(), *staff)
    assert done == {"verify_hukou", "verify_residence", "township_audit"}
    assert walk_through_the_pages(session, submit(same_village=True), *staff) == {"verify_both", "township_audit"}


def test_the_shipped_third_child_forms(session, submit, staff):
    done = walk_through_the_pages(session, submit(case_type="third_child"), *staff)
    assert {"verify_hukou", "township_review", "offline_confirmation"} <= done


@pytest.mark.parametrize(("diagram", "step"), [(SPOT_CHECK, "county_spot_check"), (VILLAGE_METHOD, "verify_hukou")])
def test_the_proof_diagrams_forms(session, submit, staff, policy, diagram, step):  # noqa: F811 - fixtures
    deploy_through_the_upload_page(policy, diagram)
    assert step in walk_through_the_pages(session, submit(), *staff)
