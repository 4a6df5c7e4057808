"""HTTP for the cloud client: TLS from the OS trust store, proxies, redirects we follow
ourselves, bounded answers, and text from the network made safe to print.

Why redirects are ours: urllib follows a redirect to any host and scheme with every header,
so a proxy, captive portal or hostile API could collect the bearer token or the password.
We follow a redirect only to the same scheme, host and port, and refuse anything else.
"""
from __future__ import annotations

import os
import unicodedata
import urllib.parse
from dataclasses import dataclass
from typing import Optional

from particle_py.cloud.errors import ApiError
from particle_py.errors import ParticlePyError

MAX_BODY = 1 << 20          # no answer of the API we use comes near 1 MiB
MAX_DEPTH = 32              # nor nests JSON this deep
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
ALLOW_HTTP_ENV = "PARTICLE_PY_ALLOW_HTTP"

CERT_HINT = ("The server's certificate could not be verified against this computer's trusted certificates. "
             "If your network inspects TLS (a company proxy), install its root certificate in the system's "
             "trust store, or name a CA bundle file in SSL_CERT_FILE or REQUESTS_CA_BUNDLE. With a python.org "
             "Python on macOS, run 'Install Certificates.command' from its folder in Applications. "
             "Then run the command again.")


class CloudReplyError(ParticlePyError):
    """The cloud (or something in between) answered in a way we cannot trust or use."""

    def __init__(self, message: str, hint: Optional[str] = None, status: int = 0):
        super().__init__(message, hint, 1)
        self.status = status
        self.body: dict = {}


def printable(text: str, limit: int = 200) -> str:
    """``text`` safe for a terminal: control and format characters (ESC, CR, bidi overrides ...)
    escaped as \\xNN / \\uNNNN, cut to ``limit`` characters."""
    out = []
    for ch in text:
        if ch in "\n\t":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    result = "".join(out)
    if len(result) > limit:
        result = result[:limit] + "..."
    return result


def describe_body(raw: bytes, limit: int = 120) -> str:
    """What came back, for an error message: quoted, shortened, escaped."""
    if not raw.strip():
        return "an empty body"
    text = raw.decode("utf-8", errors="replace")
    shown = printable(text, limit)
    return f'"{shown}"' + (f" ({len(raw)} bytes)" if len(text) > limit else "")


def json_depth(text: str) -> int:
    """The deepest nesting of [ and { outside strings (json.loads would recurse that deep)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_json(raw: bytes):
    """The JSON value in ``raw``; ValueError when it is not JSON, too deep or too big."""
    import json

    if len(raw) > MAX_BODY:
        raise ValueError("larger than 1 MiB")
    text = raw.decode("utf-8")            # UnicodeDecodeError is a ValueError
    if json_depth(text) > MAX_DEPTH:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(text)
    except RecursionError:                # belt and braces: the depth check comes first
        raise ValueError("nested too deeply") from None


# --- URLs ---------------------------------------------------------------------------------

def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def origin(url: str) -> tuple[str, str, int]:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def check_api_url(url: str, source: str) -> str:
    """``url`` if it is an API address we may send a token to; else our error naming ``source``."""
    fix = (f"Set apiUrl in {source} to the API's address, such as https://api.particle.io, or remove it; "
           f"then run the command again.")
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        parts.port                                    # raises ValueError on a bad port
    except ValueError:
        raise ParticlePyError(f'The apiUrl "{printable(url, 100)}" in {source} is not a valid URL.', fix)
    if parts.scheme.lower() not in ("https", "http") or not host or any(c.isspace() for c in url):
        hint = fix
        if "://" not in url:
            hint = f"Write it with its scheme, https://{printable(url, 100)}, in {source}; then run the command again."
        raise ParticlePyError(f'The apiUrl "{printable(url, 100)}" in {source} is not an http(s) URL.', hint)
    if parts.scheme.lower() == "http" and not _is_loopback(host) and os.environ.get(ALLOW_HTTP_ENV) != "1":
        raise ParticlePyError(
            f'The apiUrl "{printable(url, 100)}" in {source} is plain http: your password and access token '
            f"would cross the network unencrypted.",
            f"Use https:// if the server offers it. If you trust every network in between (a local cloud on "
            f"your own LAN), set {ALLOW_HTTP_ENV}=1 in the environment to allow it.")
    return url


# --- TLS and the opener -------------------------------------------------------------------

def ssl_context():
    """The OS trust store (truststore, as pip uses); an explicit CA bundle file named in
    SSL_CERT_FILE or REQUESTS_CA_BUNDLE instead when given; OpenSSL's defaults as the fallback.
    Verification is always on."""
    import ssl

    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        path = os.environ.get(var)
        if path and os.path.isfile(path):
            return ssl.create_default_context(cafile=path)
    try:
        import truststore
        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    except (ImportError, OSError, ssl.SSLError):
        return ssl.create_default_context()


def _opener(proxy_url: Optional[str]):
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        # a 3xx comes back to us as an HTTPError, its Location unparsed (urllib would raise on a bad one)
        def http_error_302(self, req, fp, code, msg, headers):
            return None

        http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    proxies = None                        # None: urllib reads HTTPS_PROXY/https_proxy, NO_PROXY, ...
    if proxy_url and not any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
                                                         "http_proxy")):
        proxies = {"http": proxy_url, "https": proxy_url}
    return urllib.request.build_opener(urllib.request.ProxyHandler(proxies),
                                       urllib.request.HTTPSHandler(context=ssl_context()), NoRedirect())


@dataclass
class Reply:
    status: int
    url: str                 # the URL that answered (after same-origin redirects)
    body: bytes


def _read(resp) -> bytes:
    data = resp.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise CloudReplyError(f"The answer from {printable(resp.geturl(), 200)} is larger than 1 MiB; "
                              "it cannot be the Particle cloud's.",
                              "Check the apiUrl in your particle config and any proxy, then run the command "
                              "again.", getattr(resp, "status", 0) or 0)
    return data


def exchange(method: str, url: str, *, headers: dict, data: Optional[bytes], timeout: float,
             proxy_url: Optional[str] = None, source: str = "your particle config",
             base: Optional[str] = None) -> Reply:
    """One request, following same-origin redirects; any answer status comes back as a Reply.
    Network failures, other redirects and oversized answers raise ParticlePyError."""
    import http.client
    import ssl
    import urllib.error
    import urllib.request

    opener = _opener(proxy_url)
    start = origin(url)
    for _ in range(MAX_REDIRECTS + 1):
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with opener.open(req, timeout=timeout) as resp:
                return Reply(resp.status, url, _read(resp))
        except urllib.error.HTTPError as exc:
            try:
                raw = _read(exc) if exc.fp else b""
            except (OSError, http.client.HTTPException):
                raw = b""
            if exc.code not in REDIRECTS:
                return Reply(exc.code, url, raw)
            url, method, data = _next_hop(url, exc.code, exc.headers.get("Location"), method, data, start, source)
        except urllib.error.URLError as exc:
            raise _unreachable(base or url, getattr(exc, "reason", exc), source)
        except (ssl.SSLError, TimeoutError, ConnectionError, OSError, http.client.HTTPException) as exc:
            raise _unreachable(base or url, exc, source)
        except ValueError as exc:         # http.client.InvalidURL and friends
            raise ParticlePyError(f"Cannot send a request to {printable(url, 200)}: {printable(str(exc), 100)}",
                                  f"Check the apiUrl in {source}.")
    raise CloudReplyError(f"The cloud at {printable(url, 200)} redirected more than {MAX_REDIRECTS} times.",
                          f"Check the apiUrl in {source} and any proxy, then run the command again.")


def _next_hop(url: str, status: int, location: Optional[str], method: str, data, start, source: str):
    shown = printable(url, 200)
    if not location:
        raise CloudReplyError(f"The cloud at {shown} answered HTTP {status} (a redirect) without saying where to.",
                              f"Check the apiUrl in {source} and any proxy, then run the command again.", status)
    try:
        target = urllib.parse.urljoin(url, location)
        where = origin(target)
    except ValueError:
        raise CloudReplyError(f"The cloud at {shown} redirected to a malformed address: "
                              f"{describe_body(location.encode('utf-8', 'replace'))}.",
                              f"Check the apiUrl in {source} and any proxy, then run the command again.", status)
    if where != start:
        raise CloudReplyError(
            f"The cloud at {shown} redirected to {printable(target, 200)}, another "
            f"{'scheme' if where[0] != start[0] else 'server'}; particle-py sends your token and password "
            f"only to the configured apiUrl, so it stopped there.",
            f"If the API has moved, set apiUrl in {source} to its new https:// address. A network that "
            f"wants you to sign in first (hotel or airport Wi-Fi) or a proxy can also do this: sign in, "
            f"then run the command again.", status)
    if status == 303 or (status in (301, 302) and method not in ("GET", "HEAD")):
        method, data = "GET", None        # what browsers and particle-cli's HTTP library do
    return target, method, data


def _unreachable(base: str, reason, source: str) -> ParticlePyError:
    import ssl

    text = printable(str(reason) or type(reason).__name__, 200)
    if isinstance(reason, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return ApiError(f"Could not reach the Particle cloud at {printable(base, 200)}: {text}", CERT_HINT, 0)
    return ApiError(f"Could not reach the Particle cloud at {printable(base, 200)}: {text}",
                    f"Check that your computer is online (and the apiUrl in {source}), then run the "
                    f"command again.", 0)
