"""Sign-in mode (``AUTH_MODE=oidc``): every page asks to sign in first, and knows who is there.

Streamlit runs the OpenID Connect flow (``st.login``, ``st.user``, ``st.logout``; configured by
``src/web/auth_config.py``). A person is their provider's ``iss`` and ``sub``; the limits that
count clients count people (``client``), and the Queue admin page opens its details for the
e-mail addresses and group or role claim values in ``ADMIN_USERS``.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from src.core.settings import Settings
from src.core.workspace import owners
from src.jobs.client import limits as client_limits
from src.ui.text import literal

#: Claims that carry a person's groups or roles at common providers (Keycloak, Entra ID, GitLab).
GROUP_CLAIMS = ("groups", "roles")


@dataclass(frozen=True)
class Person:
    key: str  # owners.owner_key(iss, sub): what their workspaces are filed under
    name: str
    email: str
    memberships: tuple[str, ...]  # values of the group and role claims

    @property
    def client(self) -> str:
        """Who the per-visitor limits count: this person, wherever they sign in from."""
        return f"{client_limits.PERSON_PREFIX}{self.key}"

    def is_admin(self, settings: Settings) -> bool:
        admins = {entry.lower() for entry in settings.auth.admin_users}
        mine = {self.email.lower(), *(m.lower() for m in self.memberships)} - {""}
        return bool(admins & mine)


def _claims(name: str) -> tuple[str, ...]:
    value = st.user.get(name)
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def person(settings: Settings) -> Person | None:
    """The signed-in person; in sign-in mode a page without one shows the sign-in and stops."""
    if not settings.auth.signed_in:
        return None
    if not st.user.is_logged_in:
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
    )


def _sign_in_screen(settings: Settings) -> None:
    st.title(literal(settings.app_name))
    st.markdown("Sign in with your institute's account to reach your workspaces and runs.")
    if st.button("Sign in", type="primary", key="sign-in"):
        st.login()


def sign_out_button() -> None:
    if st.button("Sign out", key="sign-out", icon=":material/logout:"):
        st.logout()
