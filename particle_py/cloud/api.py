"""A small Particle Cloud API client on urllib (TLS verification always on).

Only what the keys and auth commands need: provisioning a device public key,
login (with the MFA one-time-password step), the current token, the user,
claiming a device and revoking a token. Failures become ParticlePyError with
particle-cli's wording and a next step.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional

from particle_py.errors import ParticlePyError

# particle-cli's OAuth client (its requests carry these as HTTP basic credentials)
OAUTH_CLIENT = ("particle", "particle")
TOKEN_LIFETIME_S = 7776000          # 90 days, particle-cli's default
FRESH_TOKEN_MIN_S = 60              # keys send/doctor refuse a token about to expire

NOT_JSON = "_not_json"              # marks an answer body that was not JSON
NOT_LOGGED_IN = "You're not logged in. Run `particle login` to authenticate."
TOKEN_INVALID = "Your access token is invalid or has expired."
TOKEN_INVALID_HINT = "Run particle login to log in again."


class ApiError(ParticlePyError):
    """An error answer from the API: ``status`` is the HTTP status (0 = not reached)."""

    def __init__(self, message: str, hint: Optional[str] = None, status: int = 0, body: Optional[dict] = None):
        super().__init__(message, hint, 1)
        self.status = status
        self.body = body or {}


class MfaRequired(Exception):
    """Login needs the one-time password from the user's authenticator app."""

    def __init__(self, mfa_token: str):
        super().__init__("mfa_required")
        self.mfa_token = mfa_token


def not_logged_in() -> ApiError:
    return ApiError(NOT_LOGGED_IN, None, 401)


def token_invalid() -> ApiError:
    return ApiError(TOKEN_INVALID, TOKEN_INVALID_HINT, 401)


def _body_message(body: dict) -> Optional[str]:
    for key in ("error_description", "info", "error"):
        value = body.get(key)
        if isinstance(value, str) and value:
            if key == "error" and value == "invalid_token":
                continue
            return value
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        parts = [e if isinstance(e, str) else (e.get("message") or json.dumps(e)) if isinstance(e, dict) else str(e)
                 for e in errors]
        return "\n".join(parts)
    return None


class ApiClient:
    def __init__(self, api_url: str, token: Optional[str] = None, timeout: float = 30.0):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    # --- plumbing -----------------------------------------------------------------------
    def request(self, method: str, path: str, form: Optional[dict] = None, *, auth: str = "bearer") -> dict:
        """Send a request; return the JSON body of a 2xx answer, raise ApiError otherwise."""
        from particle_py import __version__

        url = self.api_url + path
        data = None
        headers = {"Accept": "application/json", "User-Agent": f"particle-py/{__version__}"}
        if form is not None:
            data = urllib.parse.urlencode({k: v for k, v in form.items() if v is not None}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if auth == "bearer":
            if not self.token:
                raise not_logged_in()
            headers["Authorization"] = f"Bearer {self.token}"
        elif auth == "client":
            import base64
            pair = base64.b64encode(("%s:%s" % OAUTH_CLIENT).encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        import http.client

        try:
            # The default opener verifies TLS certificates and honours the *_proxy env vars.
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = self._json(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                raw = exc.read() if exc.fp else b""
            except (OSError, http.client.HTTPException):
                raw = b""
            raise self._http_error(exc.code, self._json(raw))
        except urllib.error.URLError as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(f"Could not reach the Particle cloud at {self.api_url}: {reason}",
                           "Check that your computer is online (and the apiUrl in your particle config), "
                           "then run the command again.", 0)
        except (TimeoutError, ConnectionError, OSError, http.client.HTTPException) as exc:
            reason = str(exc) or type(exc).__name__
            raise ApiError(f"Could not reach the Particle cloud at {self.api_url}: {reason}",
                           "Check that your computer is online, then run the command again.", 0)
        if NOT_JSON in body:
            raise ApiError(f"The Particle cloud at {self.api_url} sent an answer that is not JSON.",
                           "Check the apiUrl in your particle config and any proxy, then run the command again "
                           "(it is safe to repeat).", 200, {})
        return body

    @staticmethod
    def _json(raw: bytes) -> dict:
        try:
            value = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except ValueError:          # UnicodeDecodeError included
            return {NOT_JSON: True}
        return value if isinstance(value, dict) else {"data": value}

    @staticmethod
    def _http_error(status: int, body: dict) -> ApiError:
        if status == 401 or body.get("error") == "invalid_token":
            return ApiError(TOKEN_INVALID, TOKEN_INVALID_HINT, status, body)
        message = _body_message(body)
        if NOT_JSON in body:
            return ApiError(f"The Particle cloud answered HTTP {status} without a JSON body",
                            "The apiUrl in your particle config or a proxy may be wrong; check them and run the "
                            "command again.", status, {})
        if status == 403:
            return ApiError(message or "Permission Denied",
                            "The device must belong to the account you are logged in with "
                            "(see `particle whoami`); claim it with `particle device add <id>`.", status, body)
        if status == 404:
            return ApiError(message or "Not found", "Check the device ID (`particle usb list` shows the attached "
                            "ones) and the account you are logged in with (`particle whoami`).", status, body)
        if status >= 500:
            return ApiError(message or f"The Particle cloud answered HTTP {status}",
                            "The cloud had a problem; try again in a minute.", status, body)
        if status == 429:
            return ApiError(message or "Too many requests", "The cloud is limiting requests; wait a minute, then "
                            "run the command again.", status, body)
        return ApiError(message or f"HTTP {status}", "The cloud refused the request (HTTP %d); check the "
                        "command's arguments and `particle whoami`, then run it again." % status, status, body)

    # --- endpoints ----------------------------------------------------------------------
    def provision_key(self, device_id: str, public_pem: str, algorithm: str,
                      product_id: Optional[int] = None) -> dict:
        """POST /v1/provisioning/<id>: tell the cloud the device's new public key."""
        form = {"deviceID": device_id, "publicKey": public_pem, "order": f"manual_{int(time.time() * 1000)}",
                "filename": "cli", "algorithm": algorithm,
                "product_id": None if product_id is None else str(product_id)}
        body = self.request("POST", f"/v1/provisioning/{urllib.parse.quote(device_id, safe='')}", form)
        if body.get("ok") is False or (isinstance(body.get("error"), str) and body["error"]):
            raise ApiError(_body_message(body) or "The cloud did not accept the key", None, 200, body)
        return body

    def token_info(self) -> dict:
        return self.request("GET", "/v1/access_tokens/current")

    def require_fresh_token(self, min_seconds: int = FRESH_TOKEN_MIN_S) -> dict:
        """The token's info, or the invalid-token error when it expires within min_seconds."""
        try:
            info = self.token_info()
        except ApiError as err:
            if err.status in (403, 404):       # some tokens may not read their own info: not a reason to stop
                return {}
            raise
        expires = info.get("expires_at")
        if isinstance(expires, str) and expires:
            import datetime as dt
            try:
                when = dt.datetime.fromisoformat(expires.replace("Z", "+00:00"))
            except ValueError:
                return info
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.timezone.utc)
            if (when - dt.datetime.now(dt.timezone.utc)).total_seconds() < min_seconds:
                raise token_invalid()
        return info

    def login(self, username: str, password: str, expires_in: int = TOKEN_LIFETIME_S) -> dict:
        try:
            return self.request("POST", "/oauth/token", {"grant_type": "password", "username": username,
                                                         "password": password, "expires_in": str(expires_in)},
                                auth="client")
        except ApiError as err:
            if err.body.get("error") == "mfa_required" and err.body.get("mfa_token"):
                raise MfaRequired(err.body["mfa_token"])
            raise self._login_error(err)

    def login_otp(self, mfa_token: str, otp: str, expires_in: int = TOKEN_LIFETIME_S) -> dict:
        try:
            return self.request("POST", "/oauth/token", {"grant_type": "urn:custom:mfa-otp", "mfa_token": mfa_token,
                                                         "otp": otp, "expires_in": str(expires_in)}, auth="client")
        except ApiError as err:
            raise self._login_error(err)

    @staticmethod
    def _login_error(err: ApiError) -> ApiError:
        if err.status in (400, 401, 403):
            return ApiError(_body_message(err.body) or "User credentials are invalid",
                            "Check your username and password (and the login code), then try "
                            "`particle login` again.", err.status, err.body)
        return err

    def whoami(self) -> dict:
        return self.request("GET", "/v1/user")

    def claim_device(self, device_id: str) -> dict:
        return self.request("POST", "/v1/devices", {"id": device_id})

    def revoke_current_token(self) -> dict:
        return self.request("DELETE", "/v1/access_tokens/current")


def client_from_config(settings=None) -> ApiClient:
    from particle_py.cloud.config import Settings
    settings = settings or Settings()
    return ApiClient(settings.api_url, settings.access_token)
