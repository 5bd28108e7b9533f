"""The sign-in page's message when the last sign-in failed (sign-in mode, ``AUTH_MODE=oidc``).

``src/web/sign_in_errors.py`` keeps why (the provider's error, a refused token exchange, a
provider that cannot be reached); this says it to the visitor, and what the administrator of
this server should check, per kind of failure. What the provider wrote goes through ``literal()``.
"""

from __future__ import annotations

import streamlit as st

from src.core.settings import Settings, provider
from src.ui.text import literal
from src.web import sign_in_errors as errors

_PROMPT_NONE = (
    "OIDC_PROMPT=none signs in only people who are signed in at the provider already and have "
    "nothing to answer there; unset OIDC_PROMPT."
)
_PROVIDER_TROUBLE = "the provider's own log says what went wrong; signing in works again once it is fixed."
#: What the administrator should check, by the provider's OAuth error code (RFC 6749 4.1.2.1,
#: OpenID Connect Core 3.1.2.6, RFC 6749 5.2 for the token endpoint's).
ADVICE = {
    "invalid_request": (
        "the provider refused the sign-in request. Check OIDC_PROMPT (unset, no prompt is sent; set "
        "it only to a prompt the provider supports), that the client OIDC_CLIENT_ID may use the "
        "authorization code flow, and the redirect URI registered for it."
    ),
    "unauthorized_client": (
        "allow the client OIDC_CLIENT_ID the authorization code flow at the provider (Keycloak: "
        "Standard flow)."
    ),
    "unsupported_response_type": "allow the client OIDC_CLIENT_ID the response type code at the provider.",
    "invalid_scope": "allow the client OIDC_CLIENT_ID the scopes openid, email and profile at the provider.",
    "access_denied": (
        "the provider did not let this person sign in, or they cancelled. If they should have access, "
        "check the provider's access rules for the client OIDC_CLIENT_ID."
    ),
    "login_required": _PROMPT_NONE,
    "interaction_required": _PROMPT_NONE,
    "consent_required": _PROMPT_NONE,
    "account_selection_required": _PROMPT_NONE,
    "server_error": _PROVIDER_TROUBLE,
    "temporarily_unavailable": _PROVIDER_TROUBLE,
    "invalid_client": (
        "check OIDC_CLIENT_ID and OIDC_CLIENT_SECRET: they must be the id and the secret of a client "
        "registered at the provider (its credentials page)."
    ),
    "": "check the client OIDC_CLIENT_ID at the provider, and the provider's log.",
}
#: What the administrator should check when the provider sent no error of its own.
KIND_ADVICE = {
    errors.TOKEN: (
        "the provider accepts this server's client credentials, so the answer itself was refused: this "
        "server's log says why (look for 'OAuth token exchange failed'). Check that this server's clock "
        "is right and that OIDC_METADATA_URL names the provider people sign in at."
    ),
    errors.UNREACHABLE: (
        "check that the provider is up and that this server reaches OIDC_METADATA_URL (network, proxy "
        "variables, DNS, the provider's TLS certificate). The container's start-up check tells the same."
    ),
    errors.DISCOVERY: (
        "set OIDC_METADATA_URL to the provider's discovery document (.../.well-known/openid-configuration)."
    ),
    errors.LOGIN: (
        "this server's log says why (look for 'Error during OAuth authorization redirect'); check "
        "OIDC_METADATA_URL and OIDC_CLIENT_ID."
    ),
}


#: How the message begins, by kind of failure; what follows is :func:`_detail`.
HEADLINES = {
    errors.PROVIDER: "the identity provider said:",
    errors.TOKEN: "the identity provider did not complete it:",
    errors.UNREACHABLE: "the identity provider could not be reached:",
    errors.DISCOVERY: "the identity provider's address is wrong:",
    errors.LOGIN: "the sign-in could not be started:",
}


def _detail(failure: errors.SignInError) -> str:
    """The failure in plain text (the provider's words among it): for ``literal()``."""
    if failure.error:
        return f"{failure.error} ({failure.description or 'no description'})."
    if failure.description:
        return failure.description.rstrip(".") + "."
    if failure.kind == errors.TOKEN:
        return "its answer could not be used to sign you in."
    return "this server's log says why."


def show(settings: Settings, failure: errors.SignInError) -> None:
    """Say why the last sign-in failed: to the visitor, and what the administrator should check."""
    if failure.error or failure.kind == errors.PROVIDER:
        advice = ADVICE.get(failure.error, ADVICE[""])
    else:
        advice = KIND_ADVICE.get(failure.kind, KIND_ADVICE[errors.LOGIN])
    callback = provider.redirect_uri(settings.public_url)
    headline = HEADLINES[failure.kind] if failure.kind in HEADLINES else HEADLINES[errors.LOGIN]
    st.error(
        f"**Sign-in failed**: {headline} {literal(_detail(failure))}\n\n"
        "Try again later, or tell the administrator of this server.",
        icon=":material/error:",
    )
    st.caption(
        f"For the administrator: {literal(advice)} The redirect URI registered at the provider must be "
        f"{literal(callback)}."
    )
