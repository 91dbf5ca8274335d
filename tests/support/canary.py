"""The canary pupil: every value is unique, so logs, responses, mails and the stores can
be searched for it. It is fictitious (example.invalid, a +316999… number) and the only
canary of the test suites."""

from __future__ import annotations

from datetime import date

# A pupil whose every value is unique, so logs and responses can be searched for it.
CANARY = {
    "pupil_number": "999001",
    "first_name": "Canarytestkind",
    "last_name": "Kanariepietersz",
    "birth_date": "2012-02-29",
    "email": "canary.parent@example.invalid",
    "phone": "+31699999001",
    "mentor": "dhr. Canarymentor",
}


CANARY_ROW = (
    f"{CANARY['pupil_number']};{CANARY['first_name']};{CANARY['last_name']};"
    f"{CANARY['birth_date']};1B;BB;toegekend;2026-10-02;;77;41;42;43;44;"
    f"{CANARY['email']};{CANARY['phone']};{CANARY['mentor']}"
)

CANARY_NUMBER = CANARY["pupil_number"]
CANARY_FIRST = CANARY["first_name"]
CANARY_LAST = CANARY["last_name"]
CANARY_EMAIL = CANARY["email"]
CANARY_PHONE = CANARY["phone"]
CANARY_MENTOR = CANARY["mentor"]
CANARY_BIRTH = date.fromisoformat(CANARY["birth_date"])
CANARY_BIRTH_DMY = f"{CANARY_BIRTH:%d-%m-%Y}"  # as a parent types it
CANARY_STRINGS = (CANARY_NUMBER, CANARY_FIRST, CANARY_LAST, CANARY_EMAIL, CANARY_PHONE,
                  CANARY["birth_date"], CANARY_BIRTH_DMY)
