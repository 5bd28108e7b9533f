"""E-mail over STARTTLS with a login, against a real SMTP server (aiosmtpd) that requires both
(issue 30, item 4c): its certificate is signed by a private CA made here (an institute's own),
trusted through SMTP_CA_FILE. Without that setting, or with a wrong password, nothing is sent and
the run's log and the Run page say what the administrator should check; the password never shows."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import re
import ssl
import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from src.core.errors import AddressError, SettingsError
from src.core.notify import announcer, subscription
from src.core.run import RunState, RunStatus
from src.core.settings import load_settings
from tests.queue_support import free_port

pytestmark = pytest.mark.slow

USER = "openms-mailer"
PASSWORD = "mail-secret-value-5"
ADDRESS = "scientist@example.org"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key, issuer: tuple | None, extensions: list) -> x509.Certificate:
    """A certificate for ``key``, signed by ``issuer`` (name, key), or by itself."""
    issuer_name, issuer_key = issuer or (_name(subject), key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_pki(folder: Path) -> dict[str, Path]:
    """A private CA, the mail server's certificate for localhost signed by it, and another CA."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_ext = [(x509.BasicConstraints(ca=True, path_length=None), True)]
    ca = _certificate("Example Institute Mail CA", ca_key, None, ca_ext)
    server_key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server_ext = [
        (x509.SubjectAlternativeName(names), False),
        (x509.BasicConstraints(ca=False, path_length=None), True),
    ]
    server = _certificate("localhost", server_key, (ca.subject, ca_key), server_ext)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _certificate("Some Other CA", other_key, None, ca_ext)
    paths = {name: folder / f"{name}.pem" for name in ("ca", "server", "server-key", "other-ca")}
    paths["ca"].write_bytes(_pem(ca))
    paths["other-ca"].write_bytes(_pem(other))
    paths["server"].write_bytes(_pem(server) + _pem(ca))
    paths["server-key"].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


class TLSMailbox:
    """An SMTP server that requires STARTTLS, and AUTH LOGIN or PLAIN over it, before any mail."""

    def __init__(self, pki: dict[str, Path]) -> None:
        self.messages: list = []
        self.logins: list[tuple[str, bool]] = []  # (mechanism, over TLS) of every successful login
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki["server"], pki["server-key"])
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=free_port(),
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            auth_exclude_mechanism=["CRAM-MD5"],
            authenticator=self.authenticate,
        )
        self.controller.start()
        self.port = self.controller.port

    def authenticate(self, server, session, envelope, mechanism: str, auth_data) -> AuthResult:
        good = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        if good:
            self.logins.append((mechanism, session.ssl is not None))
        return AuthResult(success=good, handled=False)  # handled=True would leave a failure unanswered

    async def handle_DATA(self, server, session, envelope):  # the name is the interface's
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 Message accepted for delivery"

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def pki(tmp_path) -> dict[str, Path]:
    return make_pki(tmp_path)


@pytest.fixture
def mailbox(pki):
    box = TLSMailbox(pki)
    yield box
    box.stop()


def mail_settings(tmp_path, mailbox: TLSMailbox, **extra: str):
    root = tmp_path / "workspaces"
    root.mkdir(exist_ok=True)
    return load_settings(
        env={
            "WORKSPACES_DIR": str(root),
            "ONLINE_DEPLOYMENT": "false",
            "PUBLIC_URL": "https://openms.example.org",
            "SMTP_HOST": "localhost",
            "SMTP_PORT": str(mailbox.port),
            "SMTP_STARTTLS": "true",
            "SMTP_USER": USER,
            "SMTP_PASSWORD": PASSWORD,
            "SMTP_FROM": "openms@example.org",
            **extra,
        }
    )


def code_in(message) -> str:
    return re.search(r"^[ \t]+(\d{6})\s*$", message.get_content(), re.MULTILINE).group(1)


def confirmed_workspace(settings, mailbox: TLSMailbox, name: str = "ws") -> Path:
    """A workspace whose address was confirmed with the code mailed over STARTTLS."""
    workspace = settings.workspaces_dir / name
    workspace.mkdir()
    subscription.ask(settings, workspace, ADDRESS)
    subscription.confirm(settings, workspace, code_in(mailbox.messages[-1][1]))
    return workspace


def announce_end(settings, workspace: Path) -> list[str]:
    """A finished run's end announced; returns the lines it wrote to the run's log."""
    lines: list[str] = []
    status = RunStatus(state=RunState.FINISHED, started_at=time.time() - 12, ended_at=time.time())
    announcer.announce(settings, "TOPP Workflow", workspace, status, lines.append)
    return lines


def test_mail_goes_over_starttls_with_a_login_when_the_private_ca_is_trusted(tmp_path, pki, mailbox):
    settings = mail_settings(tmp_path, mailbox, SMTP_CA_FILE=str(pki["ca"]))
    workspace = confirmed_workspace(settings, mailbox)
    assert announce_end(settings, workspace) == [f"E-mail notification sent to {ADDRESS}."]
    assert [to for to, _ in mailbox.messages] == [[ADDRESS], [ADDRESS]]  # the code, then the run's end
    assert mailbox.messages[-1][1]["Subject"] == "TOPP Workflow: Completed"
    assert mailbox.logins and all(over_tls for _, over_tls in mailbox.logins)
    assert {mechanism for mechanism, _ in mailbox.logins} <= {"LOGIN", "PLAIN"}


@pytest.mark.parametrize("ca", [None, "other-ca"])
def test_an_untrusted_certificate_sends_nothing_and_says_what_to_set(tmp_path, pki, mailbox, caplog, ca):
    trusted = mail_settings(tmp_path, mailbox, SMTP_CA_FILE=str(pki["ca"]))
    workspace = confirmed_workspace(trusted, mailbox)
    settings = mail_settings(tmp_path, mailbox, **({"SMTP_CA_FILE": str(pki[ca])} if ca else {}))
    caplog.set_level(logging.WARNING)

    [line] = announce_end(settings, workspace)
    assert line.startswith(f"E-mail notification to {ADDRESS} failed (the mail server's certificate")
    assert "SMTP_CA_FILE" in line and line.endswith("; the run is not affected.")
    assert "SMTP_CA_FILE" in caplog.text  # the operator's log says it too
    with pytest.raises(
        AddressError, match="The code could not be sent: the mail server's certificate"
    ) as refused:
        subscription.ask(settings, workspace, "colleague@example.org")
    assert "SMTP_CA_FILE" in str(refused.value) and "administrator" in str(refused.value)
    assert len(mailbox.messages) == 1 and len(mailbox.logins) == 1  # only the code mailed while trusted


def test_a_wrong_password_sends_nothing_and_says_to_check_the_login(tmp_path, pki, mailbox, caplog):
    trusted = mail_settings(tmp_path, mailbox, SMTP_CA_FILE=str(pki["ca"]))
    workspace = confirmed_workspace(trusted, mailbox)
    wrong = mail_settings(tmp_path, mailbox, SMTP_CA_FILE=str(pki["ca"]), SMTP_PASSWORD="not-the-password")
    caplog.set_level(logging.WARNING)

    [line] = announce_end(wrong, workspace)
    assert line.startswith(f"E-mail notification to {ADDRESS} failed (the mail server refused the login")
    assert "check SMTP_USER and SMTP_PASSWORD" in line
    with pytest.raises(AddressError, match="refused the login") as refused:
        subscription.ask(wrong, workspace, "colleague@example.org")
    for said in (line, str(refused.value), caplog.text):
        assert "not-the-password" not in said and PASSWORD not in said
    assert len(mailbox.messages) == 1


def test_a_login_without_starttls_is_refused_at_start_and_a_server_that_wants_tls_says_so(
    tmp_path, pki, mailbox
):
    with pytest.raises(SettingsError, match="SMTP_USER is set but SMTP_STARTTLS is false"):
        mail_settings(tmp_path, mailbox, SMTP_STARTTLS="false")  # the password would go in the clear
    settings = mail_settings(tmp_path, mailbox, SMTP_STARTTLS="false", SMTP_USER="", SMTP_PASSWORD="")
    workspace = settings.workspaces_dir / "plain"
    workspace.mkdir()
    with pytest.raises(AddressError, match="requires STARTTLS .*set SMTP_STARTTLS=true"):
        subscription.ask(settings, workspace, ADDRESS)
    assert mailbox.messages == [] and mailbox.logins == []


def test_an_smtp_ca_file_that_is_not_a_certificate_is_refused_at_start(tmp_path, pki, mailbox):
    with pytest.raises(SettingsError, match="SMTP_CA_FILE .*does not exist"):
        mail_settings(tmp_path, mailbox, SMTP_CA_FILE=str(tmp_path / "missing.pem"))
    with pytest.raises(SettingsError, match="SMTP_CA_FILE .*no PEM certificate"):
        mail_settings(tmp_path, mailbox, SMTP_CA_FILE=str(pki["server-key"]))
