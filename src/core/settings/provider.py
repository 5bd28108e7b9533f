"""The identity provider of sign-in mode (``AUTH_MODE=oidc``), asked the way the app asks it.

The start-up check (``check.py``) fetches the provider's discovery document and tries this
server's client credentials at its token endpoint, so that a wrong setting is named before the
first visitor arrives; the web server asks the same when a sign-in fails
(``src/web/sign_in_errors.py``), to tell the visitor why. Requests go through httpx with its
defaults, as Streamlit's sign-in (Authlib) sends them: the same CA certificates (certifi's, or
``SSL_CERT_FILE``), the same proxy variables, no redirects followed.

A provider that cannot be reached (down, the network, its certificate, an HTTP 5xx) raises
:class:`ProviderUnreachable`: it may come back without a change here. An answer that is not a
discovery document (an HTTP 3xx or 4xx, not JSON, no endpoints) raises :class:`SettingsError`:
``OIDC_METADATA_URL`` names the wrong thing.
"""

from __future__ import annotations

import json
import secrets
import ssl
from dataclasses import dataclass

import httpx

from src.core.errors import ProviderUnreachable, SettingsError

#: Seconds the check waits for the provider.
TIMEOUT = 5.0
#: What Streamlit's sign-in needs from the discovery document.
REQUIRED = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
#: Where the provider sends people back to, below PUBLIC_URL (Streamlit's callback route).
CALLBACK_PATH = "/oauth2callback"


@dataclass(frozen=True)
class Refusal:
    """An OAuth error the provider answered with (RFC 6749 section 5.2)."""

    error: str
    description: str


def redirect_uri(public_url: str) -> str:
    """The redirect URI to register at the provider."""
    return public_url.rstrip("/") + CALLBACK_PATH


def _reason(err: httpx.HTTPError) -> str:
    cause = err.__cause__ or err.__context__
    while cause is not None and not isinstance(cause, ssl.SSLError) and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return (
            f"its TLS certificate could not be verified ({cause.verify_message}); the app trusts "
            "certifi's CA certificates, or the PEM file SSL_CERT_FILE names"
        )
    if isinstance(err, httpx.TimeoutException):
        return f"no answer within {TIMEOUT:g} s"
    return str(err) or type(err).__name__


def _request(method: str, url: str, **more: object) -> httpx.Response:
    """One request, as Authlib sends it; a URL that cannot be asked at all is a wrong setting."""
    try:
        return httpx.request(method, url, timeout=TIMEOUT, **more)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as err:
        raise SettingsError(
            f"{url} is not a URL that can be asked ({err}): check OIDC_METADATA_URL, and the endpoints "
            "its discovery document names."
        ) from None
    except httpx.HTTPError as err:
        raise ProviderUnreachable(f"{_reason(err)} ({url})") from None


def _raise_if_trouble(url: str, response: httpx.Response) -> None:
    if response.status_code >= 500:
        raise ProviderUnreachable(f"HTTP {response.status_code}, the provider has trouble ({url})")


def fetch_document(url: str) -> dict:
    """The discovery document at ``url``, checked for what the sign-in needs."""
    response = _request("GET", url, headers={"Accept": "application/json"})
    _raise_if_trouble(url, response)
    if response.status_code != 200:
        moved = response.headers.get("location", "")
        also = f" (it points to {moved}: set that address, the app follows no redirect)" if moved else ""
        raise SettingsError(
            f"OIDC_METADATA_URL {url} answered HTTP {response.status_code}{also}: set it to the provider's "
            "discovery document, which ends in /.well-known/openid-configuration (docs/sign-in.md)."
        )
    return _checked(url, response)


def _checked(url: str, response: httpx.Response) -> dict:
    try:
        document = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        document = None
    if not isinstance(document, dict):
        kind = response.headers.get("content-type", "no content type")
        raise SettingsError(
            f"OIDC_METADATA_URL {url} is not a discovery document (not a JSON object, {kind}): set it "
            "to the provider's .../.well-known/openid-configuration."
        )
    missing = [
        name for name in REQUIRED if not str(document.get(name) or "").startswith(("http://", "https://"))
    ]
    if missing:
        raise SettingsError(
            f"OIDC_METADATA_URL {url} is not an OpenID Connect discovery document: it has no "
            f"{', '.join(missing)}. Set it to the provider's .../.well-known/openid-configuration."
        )
    return document


def try_client(document: dict, client_id: str, client_secret: str, public_url: str) -> Refusal | None:
    """Present this server's client credentials at the token endpoint with a code that cannot be
    valid: a provider checks the client first, so ``invalid_client`` means the id or the secret is
    wrong, while a refused code (``invalid_grant``) means both are right. Returns the refusal of
    the client, or None."""
    endpoint = str(document["token_endpoint"])
    form = {"grant_type": "authorization_code", "code": secrets.token_urlsafe(24)}
    form["redirect_uri"] = redirect_uri(public_url)
    response = _request("POST", endpoint, data=form, auth=(client_id, client_secret))
    _raise_if_trouble(endpoint, response)
    refusal = _refusal(response)
    if refusal is None or refusal.error in ("invalid_grant", "invalid_request"):
        return None
    return refusal


def _refusal(response: httpx.Response) -> Refusal | None:
    try:
        answer = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        answer = None
    if isinstance(answer, dict) and answer.get("error"):
        return Refusal(str(answer["error"])[:100], str(answer.get("error_description") or "")[:300])
    if response.status_code == 401:  # the client refused without an OAuth error in the body
        return Refusal("invalid_client", "HTTP 401")
    return None
