"""A small Particle Cloud API client on urllib (TLS verification always on).

Only what the keys and auth commands need: provisioning a device public key,
login (with the MFA one-time-password step), the current token, the user,
claiming a device and revoking a token; and for `update`, the newest Device OS release. Failures become ParticlePyError with
particle-cli's wording and a next step.
"""
from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional

from particle_py.cloud.errors import ApiError

# particle-cli's OAuth client (its requests carry these as HTTP basic credentials)
OAUTH_CLIENT = ("particle", "particle")
TOKEN_LIFETIME_S = 7776000          # 90 days, particle-cli's default
FRESH_TOKEN_MIN_S = 60              # keys send/doctor refuse a token about to expire

NOT_JSON = "_not_json"              # marks an answer body that was not JSON
NOT_LOGGED_IN = "You're not logged in. Run `particle login` to authenticate."
TOKEN_INVALID = "Your access token is invalid or has expired."
TOKEN_INVALID_HINT = "Run particle login to log in again."


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
    from particle_py.cloud.http import printable

    for key in ("error_description", "info", "error"):
        value = body.get(key)
        if isinstance(value, str) and value:
            if key == "error" and value == "invalid_token":
                continue
            return printable(value, 300)
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        parts = [e if isinstance(e, str) else (e.get("message") or json.dumps(e)) if isinstance(e, dict) else str(e)
                 for e in errors[:5]]
        return printable("; ".join(p if isinstance(p, str) else json.dumps(p) for p in parts), 300)
    return None


def _wrong_shape(url: str, status: int, raw: bytes, expected: str, source: str, why: str = "") -> ApiError:
    from particle_py.cloud.http import describe_body, printable

    what = f", which is not JSON ({why}), expected {expected}" if why else f", not {expected}"
    return ApiError(f"The Particle cloud at {printable(url, 200)} answered HTTP {status} with "
                    f"{describe_body(raw)}{what}.",
                    f"Check the apiUrl in {source} and any proxy (a network sign-in page can answer like "
                    f"this), then run the command again (it is safe to repeat).", status, {})


def _reason(exc: ValueError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    text = str(exc)
    return text if text.startswith(("larger", "nested")) else "malformed"


class ApiClient:
    def __init__(self, api_url: str, token: Optional[str] = None, timeout: float = 30.0, *,
                 source: str = "your particle config", proxy_url: Optional[str] = None):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.source = source              # where apiUrl came from, for messages
        self.proxy_url = proxy_url

    # --- plumbing -----------------------------------------------------------------------
    def exchange(self, method: str, path: str, form: Optional[dict] = None, *, auth: str = "bearer"):
        """Send a request; return (status, url, raw body) of a 2xx answer, raise ApiError otherwise."""
        from particle_py import __version__
        from particle_py.cloud.http import check_api_url, exchange

        check_api_url(self.api_url, self.source)
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
        reply = exchange(method, url, headers=headers, data=data, timeout=self.timeout,
                         proxy_url=self.proxy_url, source=self.source, base=self.api_url)
        if not 200 <= reply.status < 300:
            raise self._http_error(reply.status, self._json(reply.body))
        return reply.status, reply.url, reply.body

    def request(self, method: str, path: str, form: Optional[dict] = None, *, auth: str = "bearer",
                empty_ok: bool = False) -> dict:
        """Send a request; return the JSON object of a 2xx answer, raise ApiError otherwise."""
        status, url, raw = self.exchange(method, path, form, auth=auth)
        if empty_ok and not raw.strip():
            return {}
        return self._object(status, url, raw, "a JSON object")

    @staticmethod
    def _json(raw: bytes) -> dict:
        from particle_py.cloud.http import parse_json

        try:
            value = parse_json(raw) if raw.strip() else {}
        except ValueError:          # UnicodeDecodeError, too deep, too big included
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
        """POST /v1/provisioning/<id>: tell the cloud the device's new public key.

        Success is a 2xx JSON object that says so: ``"ok": true``, or no ``ok`` but the device's
        ``id``, and no ``error``. spark-server (the old local cloud) answers the text ``Success!``."""
        form = {"deviceID": device_id, "publicKey": public_pem, "order": f"manual_{int(time.time() * 1000)}",
                "filename": "cli", "algorithm": algorithm,
                "product_id": None if product_id is None else str(product_id)}
        path = f"/v1/provisioning/{urllib.parse.quote(device_id, safe='')}"
        status, url, raw = self.exchange("POST", path, form)
        if raw.strip() == b"Success!":
            return {"ok": True}
        body = self._object(status, url, raw, "the provisioning answer {\"ok\": true}")
        if (isinstance(body.get("error"), str) and body["error"]) or body.get("ok") is False:
            raise ApiError(_body_message(body) or "The cloud did not accept the key", None, status, body)
        if not self._says_done(body, device_id):
            raise _wrong_shape(url, status, raw, "the provisioning answer {\"ok\": true}", self.source)
        return body

    @staticmethod
    def _says_done(body: dict, device_id: str) -> bool:
        if "ok" in body:
            return body["ok"] is True and not body.get("error") and not body.get("errors")
        return isinstance(body.get("id"), str) and body["id"].lower() == device_id.lower() and not body.get("error")

    def _object(self, status: int, url: str, raw: bytes, expected: str) -> dict:
        from particle_py.cloud.http import parse_json
        try:
            value = parse_json(raw)
        except ValueError as exc:
            if raw.strip():
                raise _wrong_shape(url, status, raw, expected, self.source, _reason(exc))
            value = None
        if not isinstance(value, dict):
            raise _wrong_shape(url, status, raw, expected, self.source)
        return value

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
            try:
                left = (when - dt.datetime.now(dt.timezone.utc)).total_seconds()
            except OverflowError:
                return info
            if left < min_seconds:
                raise token_invalid()
        return info

    def _token_answer(self, status: int, url: str, raw: bytes) -> dict:
        """A login answer that holds a usable access token, or our error (the saved login stays)."""
        expected = "a login answer with an access_token"
        body = self._object(status, url, raw, expected)
        token = body.get("access_token")
        if not (isinstance(token, str) and 0 < len(token) <= 1024 and token.isascii() and token.isprintable()
                and not any(c.isspace() for c in token)):
            raise _wrong_shape(url, status, raw, expected, self.source)
        return body

    def login(self, username: str, password: str, expires_in: int = TOKEN_LIFETIME_S) -> dict:
        try:
            status, url, raw = self.exchange("POST", "/oauth/token", {"grant_type": "password", "username": username,
                                                                      "password": password,
                                                                      "expires_in": str(expires_in)}, auth="client")
        except ApiError as err:
            mfa = err.body.get("mfa_token")
            if err.body.get("error") == "mfa_required" and isinstance(mfa, str) and mfa and len(mfa) <= 1024:
                raise MfaRequired(mfa)
            raise self._login_error(err)
        return self._token_answer(status, url, raw)

    def login_otp(self, mfa_token: str, otp: str, expires_in: int = TOKEN_LIFETIME_S) -> dict:
        try:
            status, url, raw = self.exchange("POST", "/oauth/token", {"grant_type": "urn:custom:mfa-otp",
                                                                      "mfa_token": mfa_token, "otp": otp,
                                                                      "expires_in": str(expires_in)}, auth="client")
        except ApiError as err:
            raise self._login_error(err)
        return self._token_answer(status, url, raw)

    @staticmethod
    def _login_error(err: ApiError) -> ApiError:
        if err.status in (400, 401, 403):
            return ApiError(_body_message(err.body) or "User credentials are invalid",
                            "Check your username and password (and the login code), then try "
                            "`particle login` again.", err.status, err.body)
        return err

    def whoami(self) -> dict:
        """GET /v1/user; the answer's ``username`` is a printable string (it is shown and saved)."""
        try:
            status, url, raw = self.exchange("GET", "/v1/user")
        except ApiError as err:
            if err.status == 404:
                # no device is named here: a 404 means this address serves no Particle API
                raise ApiError(err.message, f"The cloud at {self.api_url} has no user endpoint: check the apiUrl "
                               f"in {self.source}, then run `particle login` again.", 404, err.body) from None
            raise
        expected = "a user with a username"
        body = self._object(status, url, raw, expected)
        name = body.get("username")
        if not (isinstance(name, str) and 0 < len(name) <= 320 and name.isprintable()):
            raise _wrong_shape(url, status, raw, expected, self.source)
        return body

    def claim_device(self, device_id: str) -> dict:
        status, url, raw = self.exchange("POST", "/v1/devices", {"id": device_id})
        expected = 'the claim answer {"ok": true}'
        body = self._object(status, url, raw, expected)
        if body.get("ok") is False or (isinstance(body.get("error"), str) and body["error"]):
            raise ApiError(_body_message(body) or "The cloud did not claim the device", None, status, body)
        if not self._says_done(body, device_id):
            raise _wrong_shape(url, status, raw, expected, self.source)
        return body

    def device_record(self, device_id: str) -> dict:
        """GET /v1/devices/<id>: the cloud's record of one device of this account, or ApiError.

        The one check of that answer, for every caller that draws a conclusion from it: a JSON
        object whose ``id`` is this device's and whose ``connected`` is a boolean. ``{}`` says
        nothing about ownership, ``"false"`` is not offline or online, and another device's
        record is not this one's."""
        status, url, raw = self.exchange("GET", f"/v1/devices/{urllib.parse.quote(device_id, safe='')}")
        expected = f'the record of device {device_id} ({{"id": "{device_id}", "connected": true or false}})'
        body = self._object(status, url, raw, expected)
        record_id = body.get("id")
        if not (isinstance(record_id, str) and record_id.lower() == device_id.lower()
                and isinstance(body.get("connected"), bool)):
            raise _wrong_shape(url, status, raw, expected, self.source)
        return body

    def device_info(self, device_id: str) -> dict:
        """{"name": printable name or "", "connected": bool} of one device of this account."""
        from particle_py.cloud.http import printable

        body = self.device_record(device_id)
        name = body.get("name")
        return {"name": printable(name, 64) if isinstance(name, str) else "", "connected": body.get("connected") is True}

    def latest_device_os(self, platform_id: int) -> str:
        """GET /v1/device-os/versions/latest?platform_id=<id> (particle-cli 3.14+'s question when no
        version is named): the release the cloud names newest for the platform."""
        status, url, raw = self.exchange("GET", f"/v1/device-os/versions/latest?platform_id={int(platform_id)}")
        expected = 'a Device OS release ({"version": "x.y.z", ...})'
        version = device_os_release_version(self._object(status, url, raw, expected), platform_id)
        if version is None:
            raise _wrong_shape(url, status, raw, expected, self.source)
        return version
    def device_list(self) -> list[dict]:
        """GET /v1/devices: every device of this account, each checked by ``listed_devices``."""
        from particle_py.cloud.http import parse_json

        status, url, raw = self.exchange("GET", "/v1/devices")
        expected = 'a list of devices ([{"id": ..., "connected": true or false}, ...])'
        try:
            value = parse_json(raw)
        except ValueError as exc:
            raise _wrong_shape(url, status, raw, expected, self.source, _reason(exc)) from None
        devices = listed_devices(value)
        if devices is None:
            raise _wrong_shape(url, status, raw, expected, self.source)
        return devices

    def device_attributes(self, device_id: str) -> dict:
        """The name, connected, variables ({name: type}) and functions ([names]) of one online
        device, from its record (particle-cli lays the record over the listed device); what the
        record does not hold in those shapes is left out."""
        from particle_py.cloud.http import printable

        body = self.device_record(device_id)
        out = {"connected": body["connected"], "variables": _variables(body.get("variables")),
               "functions": _functions(body.get("functions"))}
        if "name" in body:
            out["name"] = printable(body["name"], 64) if isinstance(body["name"], str) else None
        return out

    def revoke_current_token(self) -> dict:
        return self.request("DELETE", "/v1/access_tokens/current", empty_ok=True)


MAX_LISTED_DEVICES = 10_000
DEVICE_ID_RE = r"[0-9a-fA-F]{24}"


def _small_int(value) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 32 else None


def listed_devices(value) -> Optional[list[dict]]:
    """The devices of a GET /v1/devices answer, each {"id", "name" (printable, or None),
    "connected" (bool), "product_id", "platform_id" (int or None)}; None when the answer is not
    that list: every entry a JSON object with a 24-hex-digit ``id`` and a boolean ``connected``
    (or ``online``). A name is shown on a terminal, so it is made printable."""
    import re

    from particle_py.cloud.http import printable

    if not isinstance(value, list) or len(value) > MAX_LISTED_DEVICES:
        return None
    devices = []
    for entry in value:
        if not isinstance(entry, dict):
            return None
        device_id = entry.get("id")
        connected = entry.get("connected", entry.get("online"))
        if not (isinstance(device_id, str) and re.fullmatch(DEVICE_ID_RE, device_id) and isinstance(connected, bool)):
            return None
        name = entry.get("name")
        devices.append({"id": device_id.lower(), "name": printable(name, 64) if isinstance(name, str) else None,
                        "connected": connected, "product_id": _small_int(entry.get("product_id")),
                        "platform_id": _small_int(entry.get("platform_id"))})
    return devices


def _variables(value) -> dict:
    from particle_py.cloud.http import printable

    if not isinstance(value, dict):
        return {}
    return {printable(k, 64): printable(v, 32) for k, v in list(value.items())[:1000] if isinstance(v, str)}


def _functions(value) -> list:
    from particle_py.cloud.http import printable

    if not isinstance(value, list):
        return []
    return [printable(f, 64) for f in value[:1000] if isinstance(f, str)]


def client_from_config(settings=None) -> ApiClient:
    from particle_py.cloud.config import Settings
    settings = settings or Settings()
    return ApiClient(settings.api_url, settings.access_token, source=str(settings.path),
                     proxy_url=settings.proxy_url)


# A release version as the cloud names one: x.y.z with an optional pre-release tag. It goes into
# messages, cache folder names and the command printed to finish an update, so nothing else passes.
_RELEASE_VERSION = re.compile(r"(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})(-[0-9A-Za-z]{1,20}(?:\.[0-9A-Za-z]{1,20}){0,3})?")


def device_os_release_version(body, platform_id: Optional[int] = None) -> Optional[str]:
    """The ``version`` of a /v1/device-os/versions/<v> answer, or None when the answer is not a
    release (for ``platform_id``, when it names one)."""
    if not isinstance(body, dict):
        return None
    version = body.get("version")
    if not isinstance(version, str) or not _RELEASE_VERSION.fullmatch(version):
        return None
    named = body.get("platform_id")
    if platform_id is not None and named is not None and (isinstance(named, bool) or named != platform_id):
        return None
    return version

