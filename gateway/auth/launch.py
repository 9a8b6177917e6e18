"""The SMART authorization-code launch: authorize request checks, staff login, patient choice,
EHR launch contexts, single-use codes with PKCE, and the code-for-token exchange.

May import: gateway.store, gateway.services.directory, gateway.auth.*, stdlib. SMART App
Launch 2.x app-launch.md and RFC 7636: PKCE S256 is required (plain and missing are refused);
`aud` must be this server's FHIR base; `state` is echoed; a code lives 5 minutes and works once.
EHR launch: the EHR side creates a launch context (patient, optionally the user) for one client
and opens the app with `iss` and `launch`; the app sends `launch` back with scope `launch`, and
the patient comes from the context, not from a picker. OpenID Connect: with `openid` the token
response carries an id_token (nonce echoed), with `fhirUser` it names the user's Practitioner.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from gateway.auth.roles import ceiling
from gateway.auth.scopes import cap
from gateway.auth.tokens import AuthError, AuthService, check_secret, hash_secret
from gateway.services.audit import Agent
from gateway.services.directory import add_practitioner
from gateway.store.auth import AuthRepository
from gateway.store.models import AuthCodeRow, LaunchContextRow, RefreshTokenRow, StaffUserRow

CODE_LIFETIME = timedelta(minutes=5)
LAUNCH_LIFETIME = timedelta(hours=1)
REFRESH_OFFLINE = timedelta(days=30)
REFRESH_ONLINE = timedelta(hours=8)


@dataclass(frozen=True)
class AuthorizeRequest:
    client_id: str
    redirect_uri: str
    scope: str
    state: str
    code_challenge: str
    wants_patient: bool
    nonce: str | None = None
    launch_patient: str | None = None  # EHR launch: the patient the EHR put in context
    launch_user: str | None = None  # EHR launch: the user the EHR says is signed in


class RedirectError(AuthError):
    """An error to send back to the (verified) redirect_uri, RFC 6749 4.1.2.1."""


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class LaunchService:
    def __init__(self, auth: AuthService) -> None:
        self.auth, self.db, self.clock = auth, auth.db, auth.clock

    def add_user(self, username: str, password: str, role: str, display_name: str | None = None) -> str:
        """Add a staff user and its Practitioner (one transaction); returns the Practitioner id."""
        ceiling(role)  # unknown roles fail here
        with self.db.transaction() as session:
            repo = AuthRepository(session)
            if repo.user(username) is not None:
                raise ValueError(f"staff user {username!r} exists already")
            practitioner = add_practitioner(session, self.clock(), username, display_name,
                                            Agent(client_id="fhir-gateway-cli", role="integration_admin"))
            repo.add_user(StaffUserRow(username=username, password_hash=hash_secret(password), role=role,
                                       created=self.clock(), practitioner_id=practitioner))
        return practitioner

    def create_launch(self, client_id: str, patient: str, username: str | None = None) -> str:
        """An EHR launch context for one client (SMART app-launch.md#launch-app-ehr-launch):
        the opaque `launch` value the EHR hands the app."""
        launch = secrets.token_urlsafe(24)
        now = self.clock()
        with self.db.transaction() as session:
            repo = AuthRepository(session)
            if repo.client(client_id) is None:
                raise AuthError("invalid_request", f"unknown client_id {client_id!r}")
            if username is not None and repo.user(username) is None:
                raise AuthError("invalid_request", f"unknown staff user {username!r}")
            repo.add_launch(LaunchContextRow(launch_hash=_hash(launch), client_id=client_id,
                                             patient=patient, username=username, created=now,
                                             expires=now + LAUNCH_LIFETIME))
        return launch

    def add_public_client(self, name: str, scope: str, role: str, redirect_uris: list[str]) -> dict:
        if not redirect_uris:
            raise ValueError("a public client needs at least one redirect URI")
        return self.auth.add_client(name, scope, role, with_secret=False, redirect_uris=redirect_uris)

    def check_request(self, args: dict, aud: str) -> AuthorizeRequest:
        """Refuse before any redirect when the client or redirect_uri is wrong (no open redirect)."""
        with self.db.read() as session:
            client = AuthRepository(session).client(args.get("client_id", ""))
            uris = client.redirect_uris.split() if client else []
        if client is None or args.get("redirect_uri") not in uris:
            raise AuthError("invalid_request", "unknown client_id or unregistered redirect_uri")
        if args.get("response_type") != "code":
            raise RedirectError("unsupported_response_type", "response_type must be code")
        if args.get("aud", args.get("resource")) != aud:
            raise RedirectError("invalid_request", "aud must be this server's FHIR base URL")
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            raise RedirectError("invalid_request", "PKCE with code_challenge_method=S256 is required")
        scope = args.get("scope", "")
        words = scope.split()
        patient = user = None
        if args.get("launch"):
            if "launch" not in words:
                raise RedirectError("invalid_scope", "an EHR launch needs the `launch` scope")
            patient, user = self._launch_context(args["launch"], args["client_id"])
        elif "launch" in words:
            raise RedirectError("invalid_request", "scope `launch` needs the `launch` parameter the EHR sent")
        return AuthorizeRequest(args["client_id"], args["redirect_uri"], scope, args.get("state", ""),
                                args["code_challenge"], "launch/patient" in words and patient is None,
                                args.get("nonce") or None, patient, user)

    def _launch_context(self, launch: str, client_id: str) -> tuple[str, str | None]:
        with self.db.read() as session:
            row = AuthRepository(session).launch(_hash(launch))
            found = None if row is None else (row.client_id, row.expires, row.patient, row.username)
        if found is None or found[0] != client_id or found[1] < self.clock():
            raise RedirectError("invalid_request", "the launch is unknown, expired or for another app")
        return found[2], found[3]

    def verify_user(self, username: str, password: str) -> str:
        """The staff user's role, or AuthError when the login is wrong."""
        with self.db.read() as session:
            user = AuthRepository(session).user(username)
            role, stored = (user.role, user.password_hash) if user else ("", None)
        if not check_secret(password, stored):
            raise AuthError("access_denied", "wrong username or password", 401)
        return role

    def issue_code(self, request: AuthorizeRequest, username: str, role: str,
                   patient: str | None) -> str:
        """A fresh single-use code for the grant: requested scopes capped by the client's
        registration and by the user's role."""
        if request.launch_user and request.launch_user != username:
            raise AuthError("access_denied", "the EHR launched this app for another user")
        if request.launch_patient:
            patient = request.launch_patient
        elif request.wants_patient and not patient:
            raise AuthError("invalid_request", "choose a patient")
        with self.db.read() as session:
            client_scope = AuthRepository(session).client(request.client_id).scope
        granted = cap(cap(request.scope, client_scope), ceiling(role))
        code = secrets.token_urlsafe(32)
        with self.db.transaction() as session:
            AuthRepository(session).add_code(AuthCodeRow(
                code_hash=_hash(code), client_id=request.client_id, redirect_uri=request.redirect_uri,
                scope=granted, code_challenge=request.code_challenge, username=username,
                patient=patient if (request.wants_patient or request.launch_patient) else None,
                expires=self.clock() + CODE_LIFETIME, used=False, nonce=request.nonce))
        return code

    def exchange(self, form: dict, basic: tuple[str, str] | None, aud: str) -> dict:
        """grant_type=authorization_code at the token endpoint (the code is spent on first
        presentation, right or wrong, so a stolen code cannot be retried)."""
        client_id = basic[0] if basic else form.get("client_id", "")
        with self.db.transaction() as session:
            repo = AuthRepository(session)
            client = repo.client(client_id)
            client_ok = client is not None and (client.public or bool(
                basic and check_secret(basic[1], client.secret_hash)))
            row = repo.take_code(_hash(form.get("code", ""))) if client_ok else None
            grant = None if row is None else (row.client_id, row.expires, row.redirect_uri,
                                              row.code_challenge, row.scope, row.username, row.patient,
                                              row.nonce)
            role = client.role if client is not None else ""
        if not client_ok:
            raise AuthError("invalid_client", "client authentication failed", 401)
        if grant is None or grant[0] != client_id or grant[1] < self.clock():
            raise AuthError("invalid_grant", "the code is unknown, used, expired or not yours")
        _cid, _exp, redirect_uri, challenge, scope, username, patient, nonce = grant
        if redirect_uri != form.get("redirect_uri"):
            raise AuthError("invalid_grant", "redirect_uri does not match the authorize request")
        if _s256(form.get("code_verifier", "")) != challenge:
            raise AuthError("invalid_grant", "code_verifier does not match the code_challenge")
        fhir_user = self._fhir_user(username, aud)
        body = self.auth.issue(client_id, role, scope, aud, patient=patient, user=username,
                               fhir_user=fhir_user if "fhirUser" in scope.split() else None)
        if "openid" in scope.split():
            body["id_token"] = self.auth.id_token(client_id, username, aud, nonce=nonce,
                                                  fhir_user=fhir_user if "fhirUser" in scope.split() else None)
        return self._with_refresh(body, client_id, scope, username, patient)

    def _fhir_user(self, username: str | None, aud: str) -> str | None:
        """The absolute URL of the user's Practitioner (the OpenID `fhirUser` claim)."""
        if not username:
            return None
        with self.db.read() as session:
            user = AuthRepository(session).user(username)
            practitioner = user.practitioner_id if user is not None else None
        return f"{aud}/Practitioner/{practitioner}" if practitioner else None

    def _with_refresh(self, body: dict, client_id: str, scope: str, username: str | None,
                      patient: str | None) -> dict:
        """Add a refresh_token when offline_access or online_access was granted (SMART 2.x)."""
        words = scope.split()
        if "offline_access" not in words and "online_access" not in words:
            return body
        lifetime = REFRESH_OFFLINE if "offline_access" in words else REFRESH_ONLINE
        refresh = secrets.token_urlsafe(32)
        with self.db.transaction() as session:
            AuthRepository(session).add_refresh(RefreshTokenRow(
                token_hash=_hash(refresh), client_id=client_id, scope=scope, username=username,
                patient=patient, expires=self.clock() + lifetime, used=False))
        return dict(body, refresh_token=refresh)

    def refresh(self, form: dict, basic: tuple[str, str] | None, aud: str) -> dict:
        """grant_type=refresh_token: a new access token (same or narrower scope) and a new
        refresh token; the presented one is spent."""
        client_id = basic[0] if basic else form.get("client_id", "")
        with self.db.transaction() as session:
            repo = AuthRepository(session)
            client = repo.client(client_id)
            ok = client is not None and (client.public or bool(basic and check_secret(basic[1], client.secret_hash)))
            row = repo.take_refresh(_hash(form.get("refresh_token", ""))) if ok else None
            grant = None if row is None else (row.client_id, row.expires, row.scope, row.username, row.patient)
            role = client.role if client is not None else ""
        if not ok:
            raise AuthError("invalid_client", "client authentication failed", 401)
        if grant is None or grant[0] != client_id or grant[1] < self.clock():
            raise AuthError("invalid_grant", "the refresh token is unknown, used, expired or not yours")
        _cid, _exp, scope, username, patient = grant
        narrowed = cap(form["scope"], scope) if form.get("scope") else scope
        fhir_user = self._fhir_user(username, aud) if "fhirUser" in narrowed.split() else None
        body = self.auth.issue(client_id, role, narrowed, aud, patient=patient, user=username,
                               fhir_user=fhir_user)
        return self._with_refresh(body, client_id, narrowed, username, patient)
