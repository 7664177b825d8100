"""Schemathesis over /api/v1: generated requests, valid and invalid, sent to the app in-process (WSGI).

Every operation of the OpenAPI document is called with data the schema allows (which must not be refused as
malformed) and with data that breaks it (which must be refused), with a staff token whose jurisdiction holds two
submitted cases. Every answer must be documented for its operation and match its schema, and none may be a server
error. The second half replays, one by one, the disagreements between the document and the code found before.
"""

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import PositiveDataAcceptanceConfig
from sqlalchemy import select

from engine.models import HumanTaskModel
from services import api_tokens
from services.people import PersonModel
from webapp.api.openapi import DOCUMENT, SERVER_PREFIX

# The budget: examples per operation and generation mode, on top of the boundary cases of the coverage phase.
# Ten operations come to about 550 requests, some 20 seconds on one core.
MAX_EXAMPLES = 15

schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.generation.update(modes=["positive", "negative"], max_examples=MAX_EXAMPLES, deterministic=True,
                                database="none")
# A well-formed request may still be refused for what it says (a decision the task's form does not offer, a name
# with digits, a month range that ends before it starts): 422, which the schema cannot rule out; and any request
# may meet a rate limit (429). 400 stays a failure for schema-valid data: it means "malformed", and the document
# would then be promising too much.
schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
    expected_statuses=["2xx", "401", "403", "404", "409", "422", "429"])

# Who calls what: the village staff work the tasks and search the people of their village; statistics are read by
# the county, whose figures include the village.
READER_OF = {"/statistics": "county"}
ID_PARAMETERS = ("task_id", "person_id")


@pytest.fixture
def world(session, people, submit, apply):
    """Two cases waiting in the village, their tokens, and the ids of the rows that exist."""
    submit()
    apply()
    tokens = {name: api_tokens.issue_token(session, getattr(people, name), "接口测试") for name in ("hukou", "county")}
    session.commit()
    return {
        "tokens": tokens,
        "task_id": list(session.scalars(select(HumanTaskModel.id).order_by(HumanTaskModel.id))),
        "person_id": list(session.scalars(select(PersonModel.id).order_by(PersonModel.id))),
    }


def _aim_at_rows(case, world) -> None:
    """Point half of the ids drawn for valid requests at rows that exist, so the 200 answers are exercised too."""
    for name in ID_PARAMETERS:
        drawn = (case.path_parameters or {}).get(name)
        known = world[name]
        if isinstance(drawn, int) and drawn % 2 == 0 and known and case.meta and case.meta.generation.mode.is_positive:
            case.path_parameters[name] = known[(drawn // 2) % len(known)]


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_generated_request_gets_a_documented_answer(case, app, client, world):
    """Valid data is accepted, invalid data refused, every answer matches the document and none is a 500."""
    _aim_at_rows(case, world)
    token = world["tokens"][READER_OF.get(case.operation.path, "hukou")]
    case.operation.schema.app = app  # the probes of some checks (the same request without a token) go in-process too
    case.call_and_validate(app=app, session=client, headers={"Authorization": f"Bearer {token}"})


# -- the disagreements found before, replayed ---------------------------------------------------------------------


def _query_parameter(path: str, name: str) -> dict:
    (parameter,) = [p for p in DOCUMENT["paths"][path]["get"]["parameters"] if p["name"] == name]
    return parameter["schema"]


def _body_schema(path: str) -> dict:
    ref = DOCUMENT["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return {**DOCUMENT["components"]["schemas"][ref.rpartition("/")[2]], "$defs": {}}


def _allowed(schema_part: dict, value) -> bool:
    return jsonschema.Draft202012Validator(schema_part).is_valid(value)


@pytest.mark.parametrize(("path", "name", "value"), [
    ("/tasks", "division", "0"),  # the document allowed any digits; the code wants a 2-12 digit division code
    ("/statistics", "from", "7601-18"),  # the document allowed month 18 of year 7601
    ("/statistics", "to", ""),  # the document forbade an empty month; the code read it as "no limit"
    ("/statistics", "division", "110101001001"),  # a village: statistics count down to townships only
])
def test_a_query_value_is_refused_exactly_when_the_document_forbids_it(world, client, path, name, value):
    allowed = _allowed(_query_parameter(path, name), value)
    token = world["tokens"][READER_OF.get(path, "hukou")]
    response = client.get(f"{SERVER_PREFIX}{path}", query_string={name: value},
                          headers={"Authorization": f"Bearer {token}"})
    assert not allowed
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("query", ["=false", "sort=due_at", "view=todo&pagesize=5"])
def test_a_query_parameter_the_operation_does_not_take_is_refused(world, client, query):
    response = client.get(f"{SERVER_PREFIX}/tasks?{query}",
                          headers={"Authorization": f"Bearer {world['tokens']['hukou']}"})
    assert response.status_code == 400, response.text
    assert response.get_json()["error"]["message"].startswith("不支持的查询参数：")
    assert "400" in DOCUMENT["paths"]["/tasks"]["get"]["responses"]


def test_integral_floats_are_ids_as_the_document_says(world, client):
    body = {"task_ids": [float(world["task_id"][0])]}
    assert _allowed(_body_schema("/tasks/claim"), body)
    response = client.post(f"{SERVER_PREFIX}/tasks/claim", json=body,
                           headers={"Authorization": f"Bearer {world['tokens']['hukou']}"})
    assert response.status_code == 200, response.text
    assert response.get_json()["claimed_task_ids"] == [world["task_id"][0]]
    found = client.post(f"{SERVER_PREFIX}/people/search", json={"query": "张", "page": 1.0, "page_size": 5.0},
                        headers={"Authorization": f"Bearer {world['tokens']['hukou']}"})
    assert found.status_code == 200, found.text
    assert found.get_json()["page_size"] == 5


def test_an_empty_decision_is_outside_the_document_and_refused(world, client):
    headers = {"Authorization": f"Bearer {world['tokens']['hukou']}"}
    detail = client.get(f"{SERVER_PREFIX}/tasks/{world['task_id'][0]}", headers=headers).get_json()
    assert not _allowed(detail["form"]["payload_schema"], {"decision": ""})
    response = client.post(f"{SERVER_PREFIX}/tasks/{world['task_id'][0]}/complete", json={"decision": ""},
                           headers=headers)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"]["decision"] == "此项为必填项"
