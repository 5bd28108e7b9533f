"""The two e-mails the app sends, and sending them: a code that confirms an address, and a run's end.

A confirmation mail goes to an address nobody has confirmed yet, so it says only what is
needed to confirm it: the app's name and address and a code. It carries no workspace link
(the key to a workspace) and nothing about the person who typed the address. A run's end
goes only to a confirmed address; it carries the workspace link and a link that stops the
e-mails at once (also as ``List-Unsubscribe`` headers, which mail programs show as a button).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email import policy
from email.message import EmailMessage

from src.core.errors import MailNotSent
from src.core.settings import Notify, Settings

#: Seconds an SMTP conversation may take.
TIMEOUT_SECONDS = 10
#: Header lines up to RFC 5322's 998 characters, CRLF endings. At the email package's default of
#: 78 the stop link cannot be folded (no spaces) and is RFC 2047-encoded instead, which no mail
#: program reads as a List-Unsubscribe URL (RFC 2369 wants it plain), so it offers no unsubscribe.
MAIL_POLICY = policy.SMTP.clone(max_line_length=998)


def _message(settings: Settings, address: str, subject: str, lines: list[str]) -> EmailMessage:
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = settings.notify.smtp_from
    message["To"] = address
    message["Subject"] = subject
    message["Auto-Submitted"] = "auto-generated"  # no out-of-office replies to it
    message.set_content("\n".join(lines) + "\n")
    return message


def confirmation(settings: Settings, address: str, code: str) -> EmailMessage:
    minutes = settings.notify.confirm_minutes
    lines = [
        f"Someone entered this address on the Run page of {settings.app_name} ({settings.public_url})",
        "to get an e-mail each time one of their workflow runs ends.",
        "",
        f"If that was you, enter this code on that page within {minutes} minutes:",
        "",
        f"    {code}",
        "",
        "If it was not you, ignore this e-mail: this server sends nothing more to this address",
        "unless the code is entered.",
    ]
    return _message(settings, address, f"{settings.app_name}: confirm your e-mail address", lines)


def run_ended(settings: Settings, address: str, data: dict, stop_url: str) -> EmailMessage:
    duration = f" after {data['duration_seconds']:.0f} s" if data["duration_seconds"] is not None else ""
    lines = [
        f"Your {data['workflow']} run on {settings.app_name} ended: {data['outcome']}{duration}.",
        *([f"Error: {data['error']}"] if data["error"] else []),
        "",
        f"Open your workspace: {data['workspace_link']}",
        "",
        "You get this e-mail because this address was confirmed for the workspace on its Run page.",
        f"To get no more of them: {stop_url}",
    ]
    message = _message(settings, address, f"{data['workflow']}: {data['outcome']}", lines)
    message["List-Unsubscribe"] = f"<{stop_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def send(notify: Notify, message: EmailMessage) -> None:
    """Hand the message to the operator's mail server; raises MailNotSent with what to check."""
    try:
        _deliver(notify, message)
    except (OSError, smtplib.SMTPException) as err:  # ssl.SSLError is an OSError
        raise MailNotSent(explain(err, notify), isinstance(err, smtplib.SMTPRecipientsRefused)) from None


def tls_context(notify: Notify) -> ssl.SSLContext:
    """Certificates are always verified, against the system's CAs and SMTP_CA_FILE's (an institute's
    own CA): a mail server that cannot prove its name never gets the password or the mail."""
    context = ssl.create_default_context()
    if notify.smtp_ca_file:
        context.load_verify_locations(cafile=notify.smtp_ca_file)
    return context


def _deliver(notify: Notify, message: EmailMessage) -> None:
    with smtplib.SMTP(notify.smtp_host, notify.smtp_port, timeout=TIMEOUT_SECONDS) as server:
        if notify.smtp_starttls:
            server.starttls(context=tls_context(notify))  # the login below is then over TLS only
        if notify.smtp_user:
            server.login(notify.smtp_user, notify.smtp_password)
        server.send_message(message)


def explain(err: BaseException, notify: Notify) -> str:
    """Why the mail was not sent, in words that name the settings to check."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return (
            f"the mail server's certificate was not accepted: {err.verify_message}. If {notify.smtp_host} "
            "uses a certificate of your institute's own CA, set SMTP_CA_FILE to that CA's certificate "
            "(PEM); check that SMTP_HOST is the name the certificate was issued for"
        )
    if isinstance(err, ssl.SSLError):
        return f"TLS with the mail server failed ({err.reason or err}): check SMTP_PORT and SMTP_STARTTLS"
    if isinstance(err, smtplib.SMTPAuthenticationError):
        return f"the mail server refused the login ({err.smtp_code}): check SMTP_USER and SMTP_PASSWORD"
    if isinstance(err, smtplib.SMTPException):
        return _smtp_answer(err, notify)
    return _network(err, notify)


def _smtp_answer(err: smtplib.SMTPException, notify: Notify) -> str:
    """A mail server's refusal, or a feature it lacks."""
    if isinstance(err, smtplib.SMTPNotSupportedError) and "STARTTLS" in str(err).upper():
        return f"the mail server offers no STARTTLS on port {notify.smtp_port}: check SMTP_HOST and SMTP_PORT"
    if isinstance(err, smtplib.SMTPNotSupportedError):
        return "the mail server offers no login here: unset SMTP_USER if it needs none, or check SMTP_HOST"
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        return "the mail server refused the address"
    if not isinstance(err, smtplib.SMTPResponseException):  # it hung up, or never spoke SMTP
        if "timed out" in str(err):
            return _no_answer(notify)
        return f"the mail server ended the conversation ({err}): check SMTP_HOST and SMTP_PORT"
    said = err.smtp_error
    said = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
    if "STARTTLS" in said.upper():
        return f"the mail server requires STARTTLS ({err.smtp_code} {said}): set SMTP_STARTTLS=true"
    if err.smtp_code == 530:
        return f"the mail server requires a login ({err.smtp_code} {said}): set SMTP_USER and SMTP_PASSWORD"
    if isinstance(err, smtplib.SMTPSenderRefused):
        return f"the mail server refused the sender ({err.smtp_code} {said}): check SMTP_FROM"
    return f"the mail server answered {err.smtp_code} {said}"


def _network(err: OSError, notify: Notify) -> str:
    """The mail server could not be reached or did not answer."""
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, socket.gaierror):
        return f"the mail server's name {notify.smtp_host} is not known: check SMTP_HOST"
    if isinstance(err, TimeoutError):
        return _no_answer(notify)
    return err.strerror or type(err).__name__


def _no_answer(notify: Notify) -> str:
    return (
        f"no answer from {notify.smtp_host} port {notify.smtp_port} within {TIMEOUT_SECONDS} s: check "
        "SMTP_HOST and SMTP_PORT (STARTTLS is spoken on the submission port, 587; port 465, TLS from "
        "the first byte, is not supported)"
    )
