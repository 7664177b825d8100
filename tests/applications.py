"""Application answers for tests: a valid couple, as the application form's cleaned data."""

from datetime import date

from processes.demo import HUKOU_VILLAGE, RESIDENCE_VILLAGE
from tests.identities import id_number

WOMAN_ID = id_number("19930307", "2")
MAN_ID = id_number("19910512", "1")


def spouse(number: str, name: str, hukou: str = HUKOU_VILLAGE, residence: str = RESIDENCE_VILLAGE, **extra) -> dict:
    """Return one spouse's answers; the birth date follows from the ID number."""
    birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    return {"name": name, "id_number": number, "birth_date": birth, "ethnicity": "01", "phone": "13800000001",
            "employer": "东城区某公司", "employer_phone": "010-12345678", "marital_status": "21",
            "hukou_division": hukou, "residence_division": residence, **extra}


def answers(children: int = 0, woman_id: str = WOMAN_ID, man_id: str = MAN_ID, same_village: bool = False) -> dict:
    """Return a whole application of 张丽 and 刘强 with `children` shared children."""
    residence = HUKOU_VILLAGE if same_village else RESIDENCE_VILLAGE
    return {"woman": spouse(woman_id, "张丽", residence=residence), "man": spouse(man_id, "刘强", residence=residence),
            "after_birth": False,
            "children": [{"name": f"刘小{i}", "sex": "1", "birth_date": date(2020, 1, 1 + i),
                          "document_number": f"O11000{i}23456", "relation": "both"} for i in range(children)]}
