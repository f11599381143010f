"""The email channel: hand each alert email to an SMTP relay over TLS, and classify its answer.

One connection per send. Alert email is low-volume and bursty; a fresh connection costs a
handshake but never sends on a connection the relay has silently dropped, and one broken
exchange cannot affect the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import ssl
import uuid
from email.headerregistry import Address
from email.message import EmailMessage

import aiosmtplib
from oncall_hookspecs import ChannelMessage, DeliveryResult

from .addresses import InvalidAddress, parse_address
from .compose import PayloadError, compose
from .settings import EmailSettings

#: how much of a relay's reply is kept with the delivery result
RESPONSE_LIMIT = 500


class EmailChannel:
    """Delivers the email renderer's ``{"subject", "html", "text"}`` to one recipient address."""

    name = "email"
    #: SMTP relays do not deduplicate: a retry after an ambiguous failure (a timeout after
    #: the message was sent) can deliver twice. The stable Message-ID lets clients that
    #: deduplicate or thread by it show one message, but nothing guarantees that.
    bundles = True
    rate_limits = {"destination": (10, 60.0)}

    def __init__(self, settings: EmailSettings) -> None:
        self._settings = settings

    def __repr__(self) -> str:  # the settings hold the password: name only what is safe
        s = self._settings
        return (
            f"EmailChannel(host={s.host!r}, port={s.port}, security={s.security!r}, "
            f"sender={s.sender.addr_spec!r}, username={s.username!r})"
        )

    async def aclose(self) -> None:
        """Nothing to release: each send opens and closes its own connection."""

    async def send(self, message: ChannelMessage) -> DeliveryResult:
        try:
            recipient = parse_address(message.destination)
        except InvalidAddress as exc:
            return DeliveryResult(ok=False, permanent=True, response=f"invalid destination: {exc}")
        try:
            email = compose(
                message.payload,
                sender=self._settings.sender,
                recipient=recipient,
                idempotency_key=message.idempotency_key,
                alert_id=message.alert_id,
                actions=message.actions,
            )
        except PayloadError as exc:
            return DeliveryResult(ok=False, permanent=True, response=str(exc))
        return await self._submit(email, recipient)

    async def test_send(self, destination: str) -> DeliveryResult:
        """Send a clearly-labelled test email (``oncall channels test email --to <address>``)."""
        key = f"test:{uuid.uuid4().hex}"
        text = (
            "This is a test message from OnCall's email channel.\n\n"
            f"It was sent through {self._settings.host} to check the SMTP settings. "
            "No alert is involved and there is nothing to do."
        )
        payload = {
            "subject": "[OnCall test] Email channel test message",
            "text": text,
            "html": "<p>" + "</p><p>".join(html.escape(p) for p in text.split("\n\n")) + "</p>",
        }
        return await self.send(
            ChannelMessage(delivery_id=key, idempotency_key=key, destination=destination, payload=payload, channel="email")
        )

    async def _submit(self, email: EmailMessage, recipient: Address) -> DeliveryResult:
        s = self._settings
        message_id = str(email["Message-ID"])
        smtp = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.security == "tls",
            start_tls=False,  # done explicitly below, so a relay without STARTTLS is an error
            tls_context=s.tls_context if s.security == "tls" else None,
            timeout=s.timeout_s,
        )
        stage = "connect"
        try:
            async with asyncio.timeout(s.timeout_s):
                await smtp.connect()
                if s.security == "starttls":
                    stage = "STARTTLS"
                    assert s.tls_context is not None
                    await smtp.starttls(tls_context=s.tls_context)
                if s.username is not None and s.password is not None:
                    stage = "AUTH"
                    await smtp.login(s.username, s.password)
                stage = "MAIL"
                _, reply = await smtp.send_message(email, sender=s.sender.addr_spec, recipients=[recipient.addr_spec])
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            return self._reply_result(refused.code, refused.message, "RCPT")
        except aiosmtplib.SMTPResponseException as exc:
            return self._reply_result(exc.code, exc.message, _stage_of(exc, stage))
        except TimeoutError:  # aiosmtplib's timeouts and the overall deadline alike
            return DeliveryResult(
                ok=False, response=f"{s.host}:{s.port}: no answer within {s.timeout_s:g} s (timed out at {stage})"
            )
        except (OSError, aiosmtplib.SMTPException) as exc:
            return self._error_result(exc, stage)
        finally:
            with contextlib.suppress(Exception):
                if smtp.is_connected:
                    await asyncio.wait_for(smtp.quit(), timeout=min(5.0, s.timeout_s))
            smtp.close()
        # The relay accepted it; it may still bounce later, so it is not "delivered".
        return DeliveryResult(
            ok=True, provider_id=message_id, delivered=False, response=self._clean(f"accepted by {s.host}: 250 {reply}")
        )

    def _reply_result(self, code: int, text: str, stage: str) -> DeliveryResult:
        """4xx: the relay asks to try later; 5xx: it refuses for good (RFC 5321 §4.2.1)."""
        response = self._clean(f"SMTP {code} {' '.join(text.split())} (at {stage})")
        return DeliveryResult(ok=False, permanent=500 <= code < 600, response=response)

    def _error_result(self, exc: BaseException, stage: str) -> DeliveryResult:
        where = f"{self._settings.host}:{self._settings.port}"
        cert_error = _cause(exc, ssl.SSLCertVerificationError)
        if cert_error is not None:
            # retrying cannot make an untrusted certificate trusted: fail over to the next method now
            return DeliveryResult(
                ok=False,
                permanent=True,
                response=self._clean(
                    f"{where}: the relay's TLS certificate is not trusted ({cert_error.verify_message or cert_error}); "
                    "for a private CA set ONCALL_EMAIL_CA_FILE"
                ),
            )
        if isinstance(exc, OSError):  # refused, reset, disconnected, TLS failure: the network's fault
            return DeliveryResult(ok=False, response=self._clean(f"{where}: connection failed at {stage}: {exc}"))
        # no STARTTLS, no AUTH, no SMTPUTF8: the relay cannot do what the settings need
        return DeliveryResult(ok=False, permanent=True, response=self._clean(f"{where}: {exc} (at {stage})"))

    def _clean(self, text: str) -> str:
        """Capped, and without the password even if a relay echoes it back."""
        password = self._settings.password
        if password:
            text = text.replace(password, "***")
        return text[:RESPONSE_LIMIT]


def _stage_of(exc: aiosmtplib.SMTPResponseException, stage: str) -> str:
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return "DATA"
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return "greeting"
    return stage


def _cause(exc: BaseException, kind: type[ssl.SSLCertVerificationError]) -> ssl.SSLCertVerificationError | None:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
