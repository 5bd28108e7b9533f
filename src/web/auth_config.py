"""Streamlit's own OpenID Connect sign-in (``st.login``), configured from the app's settings.

Streamlit reads its provider from the ``auth`` section of its secrets. In sign-in mode
(``AUTH_MODE=oidc``) the web server hands that section, made from the settings, to Streamlit's
app as programmatic secrets (``st.App(secrets=...)``, merged over the secrets files), so the
operator sets the provider like every other setting, by environment variables, and the client and
cookie secrets stay in the web server's memory: no file holds them, and the tools, which run as
another user, get none of these values.

Streamlit asks the provider for ``prompt=select_account`` unless the section names a prompt, and
many providers refuse a prompt they do not support (oidc-provider at its defaults, some Keycloak,
Shibboleth and SATOSA set-ups), so the section always names ``OIDC_PROMPT``; unset, it is empty,
which OAuth treats as not sent (RFC 6749 3.1), and ``src/web/sign_in_errors.py`` removes it from
the request too.
"""

from __future__ import annotations

from src.core.settings import Settings, provider

SCOPES = "openid email profile"


def section(settings: Settings) -> dict[str, object]:
    """The ``auth`` section of Streamlit's secrets for these settings."""
    auth = settings.auth
    return {
        "redirect_uri": provider.redirect_uri(settings.public_url),
        "cookie_secret": auth.cookie_secret,
        "client_id": auth.client_id,
        "client_secret": auth.client_secret,
        "server_metadata_url": auth.metadata_url,
        "client_kwargs": {"scope": SCOPES, "prompt": auth.prompt},
    }


def secrets(settings: Settings) -> dict[str, object] | None:
    """Streamlit's programmatic secrets for these settings: in sign-in mode its ``auth`` section,
    otherwise none (the secrets files alone, e.g. an ``admin_password``)."""
    if not settings.auth.signed_in:
        return None
    return {"auth": section(settings)}
