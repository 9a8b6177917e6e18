"""AuthRepository: OAuth clients, staff users, codes, refresh tokens, EHR launch contexts,
token signing keys and revoked tokens.

May import: sqlalchemy, stdlib, gateway.store.models.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sqlalchemy.exc import IntegrityError

from gateway.store.models import (AuthCodeRow, LaunchContextRow, OAuthClientRow, RevokedTokenRow,
                                  SigningKeyRow, RefreshTokenRow, StaffUserRow, UsedAssertionRow)


class AuthRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def client(self, client_id: str) -> OAuthClientRow | None:
        return self.session.execute(select(OAuthClientRow).where(
            OAuthClientRow.client_id == client_id)).scalar_one_or_none()

    def add_client(self, row: OAuthClientRow) -> None:
        self.session.add(row)
        self.session.flush()

    def keys(self) -> list[SigningKeyRow]:
        """Newest first."""
        return list(self.session.execute(select(SigningKeyRow).order_by(SigningKeyRow.pk.desc())).scalars())

    def add_key(self, kid: str, private_pem: str, now: datetime) -> None:
        self.session.add(SigningKeyRow(kid=kid, private_pem=private_pem, created=now))
        self.session.flush()

    def drop_keys(self, kids: list[str]) -> None:
        if kids:
            self.session.execute(delete(SigningKeyRow).where(SigningKeyRow.kid.in_(kids)))

    def revoke(self, jti: str, expires: datetime) -> None:
        if self.session.get(RevokedTokenRow, jti) is None:
            self.session.add(RevokedTokenRow(jti=jti, expires=expires))
            self.session.flush()

    def is_revoked(self, jti: str) -> bool:
        return self.session.get(RevokedTokenRow, jti) is not None

    def use_assertion(self, jti: str, client_id: str, expires: datetime) -> bool:
        """Record a client assertion's jti; False when it was seen before (a replay)."""
        try:
            with self.session.begin_nested():
                self.session.add(UsedAssertionRow(jti=f"{client_id}:{jti}"[:255], client_id=client_id,
                                                  expires=expires))
        except IntegrityError:
            return False
        return True

    def add_refresh(self, row) -> None:
        self.session.add(row)
        self.session.flush()

    def take_refresh(self, token_hash: str) -> RefreshTokenRow | None:
        """The refresh token, marked used (rotation: each one works once)."""
        return self._spend(RefreshTokenRow, token_hash)

    def user(self, username: str) -> StaffUserRow | None:
        return self.session.execute(select(StaffUserRow).where(
            StaffUserRow.username == username)).scalar_one_or_none()

    def add_user(self, row: StaffUserRow) -> None:
        self.session.add(row)
        self.session.flush()

    def add_launch(self, row: LaunchContextRow) -> None:
        self.session.add(row)
        self.session.flush()

    def launch(self, launch_hash: str) -> LaunchContextRow | None:
        return self.session.get(LaunchContextRow, launch_hash)

    def add_code(self, row: AuthCodeRow) -> None:
        self.session.add(row)
        self.session.flush()

    def take_code(self, code_hash: str) -> AuthCodeRow | None:
        """The code, marked used in the same transaction (a second use finds it used)."""
        return self._spend(AuthCodeRow, code_hash)

    def _spend(self, model, key: str):
        """A single-use row (locked), marked used; None when unknown or already spent."""
        row = self.session.get(model, key, with_for_update=True)
        if row is None or row.used:
            return None
        row.used = True
        self.session.flush()
        return row

    def purge_expired(self, now: datetime) -> dict[str, int]:
        """Delete what can no longer be used: authorization codes, launch contexts, refresh
        tokens and replay-guard assertions past their expiry, and revocations of tokens that
        have expired anyway (an expired token is refused without its revocation row)."""
        # Replay guards and revocations are kept an hour past expiry: token and assertion
        # checks allow some clock skew, and the guard must outlive every moment of acceptance.
        guarded = now - timedelta(hours=1)
        counts = {}
        for label, model, before in (("auth_codes", AuthCodeRow, now),
                                     ("launch_contexts", LaunchContextRow, now),
                                     ("refresh_tokens", RefreshTokenRow, now),
                                     ("used_assertions", UsedAssertionRow, guarded),
                                     ("revoked_tokens", RevokedTokenRow, guarded)):
            result = self.session.execute(delete(model).where(model.expires < before)
                                          .execution_options(synchronize_session=False))
            counts[label] = result.rowcount
        return counts
