"""Sign-in mode (``AUTH_MODE=oidc``): every page asks to sign in first, and knows who is there.

Streamlit runs the OpenID Connect flow (``st.login``, ``st.user``, ``st.logout``; configured by
``src/web/auth_config.py``). A person is their provider's ``iss`` and ``sub``; the limits that
count visitors count people (``visitor``), and the Queue admin page opens its details for the
group or role claim values and the verified e-mail addresses in ``ADMIN_USERS``. *Sign out* ends
the sign-in on the server too (``src/web/sign_outs.py``): a copy of its cookie signs in no more.
A sign-in that failed is said on the sign-in page, with what to check (``sign_in_failed.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from src.core.settings import Settings
from src.core.workspace import owners
from src.jobs.client import limits as visitor_limits
from src.ui import sign_in_failed
from src.ui.text import literal
from src.web import sign_in_errors, sign_outs

#: Claims that carry a person's groups or roles at common providers (Keycloak, Entra ID, GitLab).
GROUP_CLAIMS = ("groups", "roles")


@dataclass(frozen=True)
class Person:
    key: str  # owners.owner_key(iss, sub): what their workspaces are filed under
    name: str
    email: str
    memberships: tuple[str, ...]  # values of the group and role claims
    email_verified: bool = False  # the provider's ``email_verified`` claim was true

    @property
    def visitor(self) -> str:
        """Who the per-visitor limits count: this person, wherever they sign in from."""
        return f"{visitor_limits.PERSON_PREFIX}{self.key}"

    def is_admin(self, settings: Settings) -> bool:
        """A group or role claim in ``ADMIN_USERS``, or an e-mail address there that the provider
        verified: many providers let people type any address, so an unverified one proves nothing."""
        admins = {entry.lower() for entry in settings.auth.admin_users}
        mine = {m.lower() for m in self.memberships}
        if self.email_verified:
            mine.add(self.email.lower())
        return bool(admins & (mine - {""}))


def claim_is_true(value: object) -> bool:
    """A boolean claim: JSON ``true``, or the string ``"true"`` some providers send instead."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _claims(name: str) -> tuple[str, ...]:
    value = st.user.get(name)
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def person(settings: Settings) -> Person | None:
    """The signed-in person; in sign-in mode a page without one shows the sign-in and stops."""
    if not settings.auth.signed_in:
        return None
    if not st.user.is_logged_in or sign_outs.ended(settings, _sign_in_claims()):
        _sign_in_screen(settings)
        st.stop()
    subject = str(st.user.get("sub") or "")
    if not subject:
        st.error(
            "Your identity provider did not say who you are (no `sub` claim). Please tell the administrator."
        )
        st.stop()
    email = str(st.user.get("email") or "")
    memberships = tuple(m for claim in GROUP_CLAIMS for m in _claims(claim))
    return Person(
        key=owners.owner_key(str(st.user.get("iss") or ""), subject),
        name=str(st.user.get("name") or email or "you"),
        email=email,
        memberships=memberships,
        email_verified=claim_is_true(st.user.get("email_verified")),
    )


def _sign_in_screen(settings: Settings) -> None:
    st.title(literal(settings.app_name))
    failure = sign_in_errors.shown(settings, st.context.cookies)
    if failure is not None:
        sign_in_failed.show(settings, failure)
    st.markdown("Sign in with your institute's account to reach your workspaces and runs.")
    if st.button("Sign in", type="primary", key="sign-in"):
        st.login()


def _sign_in_claims() -> dict[str, object]:
    return {name: st.user.get(name) for name in sign_outs.CLAIMS}


def sign_out_button(settings: Settings) -> None:
    """Sign out here and on the server, so that no copy of the sign-in cookie works any more."""
    if not st.button("Sign out", key="sign-out", icon=":material/logout:"):
        return
    try:
        sign_outs.end(settings, _sign_in_claims())
    except OSError as err:
        st.error(
            f"Signing out failed: the server could not record it ({literal(err.strerror)}). "
            "Try again in a moment, or tell the administrator."
        )
        return
    st.logout()
