"""POST /auth/token: email and password for a bearer token (rate-limited on failures)."""

from flask import jsonify, request
from pydantic import BaseModel

from ..audit import audit
from ..extensions import db, limiter
from ..validation import StrictModel, parse
from . import bp
from .auth import credentials_match, find_user_by_email, issue_token
from .common import json_body
from .docs import documented
from .errors import ApiError


class TokenRequest(StrictModel):
    email: str
    password: str


class TokenResponse(BaseModel):
    access_token: str
    token_type: str
    expires_in: int


def _email_key() -> str:
    data = request.get_json(force=True, silent=True)
    email = data.get("email") if isinstance(data, dict) else None
    return f"token-email:{str(email).strip().lower()}"


def _failed(response) -> bool:
    return response.status_code == 401


@bp.post("/auth/token")
@limiter.limit("10/minute", deduct_when=_failed)
@limiter.limit("10/minute", key_func=_email_key, deduct_when=_failed)
@documented(
    "Exchange email and password for a bearer token", body=TokenRequest, response=TokenResponse, errors=(401, 429), tag="auth", public=True
)
def issue_access_token():
    credentials = parse(TokenRequest, json_body())
    user = find_user_by_email(credentials.email)
    if not credentials_match(user, credentials.password):
        audit(
            "login_failed", changes={"email": credentials.email[:320], "via": "api"}, organization_id=user.organization_id if user else None
        )
        db.session.commit()
        raise ApiError(401, "Wrong email or password")
    audit("login", user, {"via": "api"}, user_id=user.id, organization_id=user.organization_id)
    db.session.commit()
    token, expires_in = issue_token(user)
    return jsonify({"access_token": token, "token_type": "bearer", "expires_in": expires_in})
