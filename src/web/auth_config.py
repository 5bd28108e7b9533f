"""Streamlit's own OpenID Connect sign-in (``st.login``), configured from the app's settings.

Streamlit reads its provider from the ``[auth]`` section of its secrets. In sign-in mode
(``AUTH_MODE=oidc``) the web server writes that section, from the settings, to a file of its
own (readable by its user only; the tools run as another user and get none of these values)
and adds it to the secrets files before the app is built, so the operator sets the provider
like every other setting, by environment variables.

Streamlit asks the provider for ``prompt=select_account`` unless the section names a prompt, and
many providers refuse a prompt they do not support (oidc-provider at its defaults, some Keycloak,
Shibboleth and SATOSA set-ups), so the section always names ``OIDC_PROMPT``; unset, it is empty,
which OAuth treats as not sent (RFC 6749 3.1), and ``src/web/sign_in_errors.py`` removes it from
the request too.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from streamlit import config

from src.core.settings import Settings, provider

SCOPES = "openid email profile"


def section(settings: Settings) -> str:
    """The ``[auth]`` TOML section for these settings."""
    auth = settings.auth
    values = {
        "redirect_uri": provider.redirect_uri(settings.public_url),
        "cookie_secret": auth.cookie_secret,
        "client_id": auth.client_id,
        "client_secret": auth.client_secret,
        "server_metadata_url": auth.metadata_url,
    }
    lines = ["[auth]", *(f"{name} = {json.dumps(value)}" for name, value in values.items())]
    kwargs = f"scope = {json.dumps(SCOPES)}, prompt = {json.dumps(auth.prompt)}"
    lines.append(f"client_kwargs = {{ {kwargs} }}")
    return "\n".join(lines) + "\n"


def configure(settings: Settings) -> Path | None:
    """In sign-in mode: write the section and make Streamlit read it; returns the file."""
    if not settings.auth.signed_in:
        return None
    folder = Path(tempfile.mkdtemp(prefix="openms-auth-"))  # mode 0700
    path = folder / "secrets.toml"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(section(settings))
    files = [str(f) for f in config.get_option("secrets.files")]
    config.set_option("secrets.files", [*files, str(path)])
    return path
