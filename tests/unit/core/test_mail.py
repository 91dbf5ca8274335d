"""Mailers: the outbox (.eml, 0600, atomic) and SMTP (timeouts, STARTTLS, failures)."""

from __future__ import annotations

import smtplib
import time
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest

from core import mail as messaging
from core.mail import (
    MailUnavailable,
    OutboxMailer,
    SmtpMailer,
    code_message,
    get_mailer,
)
from tests.support.unit import CANARY_EMAIL, MAIL_FROM, read_outbox


def message(to: str = "ouder@example.org", code: str = "123456") -> EmailMessage:
    return code_message(sender=MAIL_FROM, recipient=to, code=code)


def test_code_message_is_dutch_with_u_and_validity() -> None:
    text = message().get_content()
    assert "123456" in text and "10 minuten geldig" in text
    assert "U heeft" in text and "Typt u" in text
    assert " je " not in text and " jij " not in text
    assert message()["Message-ID"].endswith("@compaen.example>")


def test_outbox_writes_private_eml_atomically(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    mailer = OutboxMailer(outbox)
    mailer.check_available()
    mailer.send(message())
    mailer.send(message(code="654321"))
    files = sorted(outbox.iterdir())
    assert len(files) == 2 and all(f.suffix == ".eml" for f in files)  # no temp files left
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    assert outbox.stat().st_mode & 0o777 == 0o700
    assert sorted(m.code for m in read_outbox(outbox)) == ["123456", "654321"]
    raw = files[0].read_bytes()
    assert b"\r\n" in raw and raw.startswith(b"Subject:")
    assert b"    123456\r\n" in raw or b"    654321\r\n" in raw  # greppable in the raw file


def test_outbox_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    mailer = OutboxMailer(blocker / "outbox")
    with pytest.raises(MailUnavailable):
        mailer.check_available()
    with pytest.raises(MailUnavailable):
        mailer.send(message())


class FakeSMTP:
    """Records what SmtpMailer does with an SMTP connection."""

    instances: list[FakeSMTP] = []
    fail_on: str | None = None

    def __init__(self, host: str, port: int, timeout: float, **kwargs: object) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.calls: list[str] = []
        FakeSMTP.instances.append(self)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name == FakeSMTP.fail_on:
            raise smtplib.SMTPRecipientsRefused({CANARY_EMAIL: (550, b"no such user")})

    def starttls(self, context: object) -> None:
        self._call("starttls")

    def login(self, user: str, password: str) -> None:
        self._call("login")

    def noop(self) -> None:
        self._call("noop")

    def send_message(self, msg: EmailMessage) -> None:
        self._call("send_message")

    def quit(self) -> None:
        self._call("quit")

    def close(self) -> None:
        self._call("close")


@pytest.fixture
def fake_smtp(monkeypatch: pytest.MonkeyPatch) -> type[FakeSMTP]:
    FakeSMTP.instances = []
    FakeSMTP.fail_on = None
    monkeypatch.setattr(messaging.smtplib, "SMTP", FakeSMTP)
    return FakeSMTP


def test_smtp_send_with_starttls_login_and_timeout(fake_smtp: type[FakeSMTP]) -> None:
    mailer = SmtpMailer("smtp.example", 587, user="u", password="p", starttls=True, timeout=2.5)
    mailer.send(message())
    [conn] = fake_smtp.instances
    assert (conn.host, conn.port, conn.timeout) == ("smtp.example", 587, 2.5)
    assert conn.calls == ["starttls", "login", "send_message", "quit"]


def test_smtp_check_available_opens_and_closes(fake_smtp: type[FakeSMTP]) -> None:
    SmtpMailer("smtp.example", 25, starttls=False).check_available()
    assert fake_smtp.instances[0].calls == ["noop", "quit"]


def test_smtp_errors_become_mail_unavailable_without_address(
    fake_smtp: type[FakeSMTP], caplog: pytest.LogCaptureFixture
) -> None:
    fake_smtp.fail_on = "send_message"
    with pytest.raises(MailUnavailable) as raised:
        SmtpMailer("smtp.example", 587).send(message(to=CANARY_EMAIL))
    assert CANARY_EMAIL not in str(raised.value) and CANARY_EMAIL not in caplog.text
    assert raised.value.__cause__ is None
    assert fake_smtp.instances[0].calls[-1] == "quit"


def test_smtp_server_down_is_reported_fast() -> None:
    started = time.monotonic()
    with pytest.raises(MailUnavailable):
        SmtpMailer("127.0.0.1", 1, timeout=1).check_available()
    assert time.monotonic() - started < 3


def test_get_mailer_picks_smtp_only_when_configured(settings) -> None:
    assert isinstance(get_mailer(settings), OutboxMailer)
    smtp = get_mailer(replace(settings, smtp_host="smtp.example"))
    assert isinstance(smtp, SmtpMailer)


def test_availability_is_remembered_instead_of_a_session_per_request(
    fake_smtp: type[FakeSMTP],
) -> None:
    now = [100.0]
    mailer = SmtpMailer("smtp.example", 25, starttls=False, availability_ttl=30,
                        clock=lambda: now[0])
    for _ in range(10):
        mailer.check_available()
    assert len(fake_smtp.instances) == 1  # one SMTP session for ten code requests
    now[0] += 31
    mailer.check_available()
    assert len(fake_smtp.instances) == 2
    fake_smtp.fail_on = "send_message"
    with pytest.raises(MailUnavailable):
        mailer.send(message())
    fake_smtp.fail_on = None
    with pytest.raises(MailUnavailable):  # a failure is remembered briefly too
        mailer.check_available()
    now[0] += 6
    mailer.check_available()
    assert len(fake_smtp.instances) == 4
