"""Sending e-mail: the one-time code to parents, callback requests to the care desk.

``get_mailer(settings)`` gives :class:`SmtpMailer` when ``SMTP_HOST`` is set, otherwise
:class:`OutboxMailer`, the embedded default that writes ``.eml`` files to
``var/outbox/``. Both raise :class:`MailUnavailable` (message without addresses or codes)
when a message cannot be handed over.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from core.texts import messages
from core.texts import text as msg

if TYPE_CHECKING:
    from core.settings import Settings

logger = logging.getLogger(__name__)

CODE_VALIDITY_MINUTES = 10
_SMTPS_PORT = 465
_FAILURE_TTL_S = 5.0



class MailUnavailable(Exception):
    """The mail server or the outbox cannot take a message now."""


class Mailer(Protocol):
    """What the verifier needs from a mail transport."""

    def check_available(self) -> None:
        """Raise MailUnavailable unless a message could be sent right now."""

    def send(self, message: EmailMessage) -> None:
        """Hand the message over; raise MailUnavailable on failure."""


def _new_message(subject: str, sender: str, recipient: str) -> EmailMessage:
    """An automatic e-mail (``Auto-Submitted``) with its headers; the body comes next."""
    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message["Message-ID"] = make_msgid(domain=_domain_of(sender))
    message["Auto-Submitted"] = "auto-generated"
    return message


def code_message(
    *, sender: str, recipient: str, code: str, valid_minutes: int = CODE_VALIDITY_MINUTES
) -> EmailMessage:
    """The Dutch e-mail (u-vorm) with the one-time code and how long it is valid."""
    message = _new_message(msg("mail.code.subject"), sender, recipient)
    # quoted-printable keeps the code and the text readable in the raw .eml
    message.set_content(
        msg("mail.code.body", code=code, minutes=valid_minutes), cte="quoted-printable"
    )
    return message




_VERIFIED_LINE: dict[bool | None, str] = {  # message keys
    True: "mail.callback.verified_yes",
    False: "mail.callback.verified_no",
    None: "mail.callback.verified_unknown",
}


def callback_message(
    *,
    sender: str,
    recipient: str,
    request_id: int | None,
    channel: str,
    question: str,
    contact_method: str,
    contact: str,
    promise: str,
    transcript: list[str],
    verified: bool | None = None,
    language: str = "nl",
) -> EmailMessage:
    """The Dutch e-mail to the care desk with a parent's callback request.

    ``language``: the language the parent used in the conversation (nl, nl-b1, en, ...),
    named in the mail so the desk can answer in it or bring an interpreter.

    ``verified``: whether the requester proved to be a parent (code or portal) in this
    conversation; None when that is not known (store down, re-sent later).
    """
    message = _new_message(msg("mail.callback.subject"), sender, recipient)
    method = msg("mail.callback.method_email" if contact_method == "email"
                 else "mail.callback.method_phone")
    lines = transcript or [msg("mail.callback.no_transcript")]
    message.set_content(
        msg(
            "mail.callback.body",
            channel=channel,
            question=question,
            method=method,
            contact=contact,
            promise=promise,
            verified=msg(_VERIFIED_LINE[verified]),
            parent_language=msg("mail.callback.language",
                         name=msg(f"language.dutch_name.{language}")
                         if f"language.dutch_name.{language}" in messages()
                         else msg("language.dutch_name.nl")),
            transcript_intro=msg("mail.callback.transcript_intro", count=len(transcript)),
            transcript="\n".join(lines),
            request_id=request_id if request_id is not None else msg("mail.callback.not_stored"),
        ),
        cte="quoted-printable",
    )
    return message


def _domain_of(address: str) -> str:
    """The domain of an address, without DNS lookups (make_msgid would do one)."""
    _, email_address = parseaddr(address)
    return email_address.rpartition("@")[2] or "localhost"


class SmtpMailer:
    """SMTP with a timeout on every socket operation; STARTTLS when configured."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        user: str = "",
        password: str = "",
        starttls: bool = True,
        timeout: float = 3.0,
        availability_ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # check_available() is called for every code request: remember a working
        # server for ``availability_ttl`` seconds (and a failing one for 5 s) instead of
        # opening an SMTP session per request.
        self._availability_ttl = availability_ttl
        self._clock = clock
        self._known: tuple[float, bool] | None = None
        self._host = host
        self._port = port
        self._user = user
        self._password = password
        self._starttls = starttls
        self._timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer:
        """An SMTP mailer from the ``SMTP_*`` settings."""
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            user=settings.smtp_user,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout,
        )

    def check_available(self) -> None:
        """Open a connection (with TLS and login as configured) and close it again;
        a recent result (a check or a send) is reused without connecting."""
        now = self._clock()
        if self._known is not None:
            at, working = self._known
            if working and now - at < self._availability_ttl:
                return
            if not working and now - at < _FAILURE_TTL_S:
                raise MailUnavailable("mail server unavailable")
        try:
            with self._session() as smtp:
                smtp.noop()
        except MailUnavailable:
            self._known = (now, False)
            raise
        self._known = (now, True)

    def send(self, message: EmailMessage) -> None:
        """Send one message over a fresh connection."""
        try:
            with self._session() as smtp:
                smtp.send_message(message)
        except MailUnavailable:
            self._known = (self._clock(), False)
            raise
        self._known = (self._clock(), True)

    @property
    def _implicit_tls(self) -> bool:
        return self._port == _SMTPS_PORT

    def _connect(self) -> smtplib.SMTP:
        if self._implicit_tls:
            return smtplib.SMTP_SSL(
                self._host, self._port, timeout=self._timeout,
                context=ssl.create_default_context(),
            )
        return smtplib.SMTP(self._host, self._port, timeout=self._timeout)

    @contextmanager
    def _session(self) -> Iterator[smtplib.SMTP]:
        try:
            smtp = self._connect()
            try:
                if self._starttls and not self._implicit_tls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._user:
                    smtp.login(self._user, self._password)
                yield smtp
            finally:
                _close(smtp)
        except (OSError, smtplib.SMTPException) as exc:
            # SMTP errors can quote the recipient: log the class name only.
            logger.warning("mail server unavailable (%s)", type(exc).__name__)
            raise MailUnavailable("mail server unavailable") from None


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


class OutboxMailer:
    """Writes each message as an RFC 822 ``.eml`` file (mode 0600), atomically."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboxMailer:
        """An outbox mailer writing to ``settings.outbox_dir``."""
        return cls(settings.outbox_dir)

    @property
    def directory(self) -> Path:
        """Where the ``.eml`` files go."""
        return self._directory

    def check_available(self) -> None:
        """Create the outbox directory (0700) and check it is writable."""
        try:
            self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            raise MailUnavailable("outbox cannot be created") from None
        if not os.access(self._directory, os.W_OK | os.X_OK):
            raise MailUnavailable("outbox is not writable")

    def send(self, message: EmailMessage) -> None:
        """Write to a temporary file, fsync, then rename: readers never see half a file."""
        self.check_available()
        name = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex}.eml"
        try:
            handle, temp_name = tempfile.mkstemp(dir=self._directory, prefix=".", suffix=".tmp")
        except OSError:
            raise MailUnavailable("outbox is not writable") from None
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(message.as_bytes(policy=policy.SMTP))
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temp_name, 0o600)
            os.replace(temp_name, self._directory / name)
        except OSError:
            Path(temp_name).unlink(missing_ok=True)
            raise MailUnavailable("outbox write failed") from None


def get_mailer(settings: Settings) -> Mailer:
    """SMTP when ``SMTP_HOST`` is set, else the ``.eml`` outbox."""
    if settings.uses_smtp:
        return SmtpMailer.from_settings(settings)
    return OutboxMailer.from_settings(settings)
