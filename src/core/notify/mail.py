"""The two e-mails the app sends, and sending them: a code that confirms an address, and a run's end.

A confirmation mail goes to an address nobody has confirmed yet, so it says only what is
needed to confirm it: the app's name and address and a code. It carries no workspace link
(the key to a workspace) and nothing about the person who typed the address. A run's end
goes only to a confirmed address; it carries the workspace link and a link that stops the
e-mails at once (also as ``List-Unsubscribe`` headers, which mail programs show as a button).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from src.core.settings import Notify, Settings

#: Seconds an SMTP conversation may take.
TIMEOUT_SECONDS = 10


def _message(settings: Settings, address: str, subject: str, lines: list[str]) -> EmailMessage:
    message = EmailMessage()
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
    """Hand the message to the operator's mail server; raises OSError or SMTPException."""
    with smtplib.SMTP(notify.smtp_host, notify.smtp_port, timeout=TIMEOUT_SECONDS) as server:
        if notify.smtp_starttls:
            server.starttls(context=ssl.create_default_context())
        if notify.smtp_user:
            server.login(notify.smtp_user, notify.smtp_password)
        server.send_message(message)
