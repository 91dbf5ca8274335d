"""What a parent types in the hand-over form: yes or no, an e-mail address or a phone
number."""

from __future__ import annotations

import re
from typing import Any

from core.records import ContactMethod
from core.texts import text as msg

# everyday yes/no in the assistant's languages (nl, en, tr, ar, pl, uk), typed on any channel
_YES_WORDS = frozenset("""ja jawel jazeker yes graag goed prima oke oké ok akkoord zeker 👍
    yeah yep sure please okay evet tamam olur lütfen نعم أجل اي ايه حسنا موافق طيب tak
    dobrze jasne oczywiście proszę так добре гаразд звісно будь""".split())
_NO_WORDS = frozenset("""nee neen no niet liever nooit 👎 not nope hayır hayir istemiyorum
    لا كلا nie ні не""".split())
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,}")
_PHONE_CANDIDATE = re.compile(r"(?:\+|\(?0)[\d\s().\-]{7,22}\d")




def yes_or_no(value: Any) -> bool | None:
    """True/False for a yes/no answer (a bool from the buttons or a typed word)."""
    if isinstance(value, bool):
        return value
    words = re.findall(r"[\w']+|👍|👎", str(value or "").lower())
    if not words:
        return None
    if any(word in _NO_WORDS for word in words):
        return False
    if any(word in _YES_WORDS for word in words):
        return True
    return None


def normalize_phone(text: str) -> str | None:
    """A Dutch (0…, 10 digits) or international (+…, 8–15 digits) number, or None."""
    digits = re.sub(r"[\s().\-]", "", text)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if digits.startswith("+31"):
        national = "0" + digits[3:].removeprefix("0")
        return national if re.fullmatch(r"0\d{9}", national) else None
    if digits.startswith("+"):
        return digits if re.fullmatch(r"\+\d{8,15}", digits) else None
    return digits if re.fullmatch(r"0[1-9]\d{8}", digits) else None


def parse_contact(text: Any) -> tuple[ContactMethod, str] | None:
    """An e-mail address or phone number in what the parent typed (exactly one)."""
    value = str(text or "").strip()
    emails = _EMAIL.findall(value)
    if len(emails) == 1:
        return ContactMethod.EMAIL, emails[0].lower()
    if emails:
        return None
    phones = [p for p in map(normalize_phone, _PHONE_CANDIDATE.findall(value)) if p]
    if len(phones) == 1:
        return ContactMethod.PHONE, phones[0]
    return None


def how_to_reach(method: ContactMethod, contact: str) -> str:
    key = "handoff.by_email" if method is ContactMethod.EMAIL else "handoff.by_phone"
    return msg(key, contact=contact)
