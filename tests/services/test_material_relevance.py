"""Which materials the upload page lists: the required ones, and optional ones only when the answers call for them."""

import pytest

from services.materials import optional_materials, shown_materials


def _answers(woman="21", man="21", after_birth=False, children=0):
    return {"woman": {"marital_status": woman}, "man": {"marital_status": man}, "after_birth": after_birth,
            "children": [{"name": f"刘小{i}"} for i in range(children)]}


def _listed(answers, uploaded=frozenset()):
    return [(kind.key, required) for kind, required in shown_materials(answers, set(uploaded))]


def test_a_first_pregnancy_of_a_first_marriage_lists_only_the_four_basic_materials():
    assert _listed(_answers()) == [("id_card", True), ("hukou_book", True), ("marriage_certificate", True),
                                   ("couple_photo", True)]
    assert optional_materials(_answers()) == []


@pytest.mark.parametrize(("woman", "man"), [("22", "21"), ("21", "22")])
def test_remarriage_brings_its_proofs_as_required(woman, man):
    listed = dict(_listed(_answers(woman, man)))
    assert listed["remarriage_proof"] is True
    assert listed["birth_history_proof"] is True


def test_a_reunion_with_the_same_spouse_asks_for_no_remarriage_proof():
    assert "remarriage_proof" not in dict(_listed(_answers("23", "23")))


def test_children_already_born_make_their_birth_certificates_optional():
    assert dict(_listed(_answers(children=2)))["birth_certificate"] is False
    assert optional_materials(_answers(children=1)) == ["birth_certificate"]


def test_an_application_after_the_birth_requires_the_birth_certificate():
    assert dict(_listed(_answers(after_birth=True, children=1)))["birth_certificate"] is True
    assert optional_materials(_answers(after_birth=True, children=1)) == []


def test_a_kind_no_longer_relevant_stays_listed_while_it_has_a_file():
    # The answers changed after the upload: the file must stay visible so that it can be deleted.
    listed = dict(_listed(_answers(), uploaded={"remarriage_proof"}))
    assert listed["remarriage_proof"] is False
