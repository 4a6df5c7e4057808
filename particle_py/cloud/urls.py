"""The one rule for every download (official assets, Device OS release files): which URLs we fetch,
and which redirects we follow.

A download URL is parsed, never matched as text (``http://localhost.example/`` and
``http://localhost@other-host/`` start like loopback and are not): its scheme is https, or http to
a loopback host, which is a loopback IP address (127.0.0.0/8, ::1) or the name ``localhost``
itself (RFC 6761 keeps it for loopback); it carries no user name or password and its port is a
number. A redirect is followed only when it keeps the scheme and host of the URL asked for, and
leads to a URL the rule allows: anywhere else could hand back any file under a trusted name.
"""
from __future__ import annotations

import ipaddress
import urllib.parse
from typing import Optional

from particle_py.errors import ParticlePyError

MAX_REDIRECTS = 5


def _shown(url: str, limit: int = 200) -> str:
    """The URL safe to print: control and format characters out, long ones cut."""
    import unicodedata
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else "?" for ch in str(url))
    return text if len(text) <= limit else text[:limit] + "..."


def is_loopback_host(host: str) -> bool:
    host = (host or "").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def download_problem(url: str) -> Optional[str]:
    """Why ``url`` may not be downloaded from, or None when the rule allows it."""
    try:
        parts = urllib.parse.urlsplit(str(url))
        host = parts.hostname or ""
        parts.port                              # raises ValueError when it is not a number
    except ValueError:
        return f"{_shown(url)} is not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not host or any(c.isspace() or ord(c) < 32 for c in str(url)):
        return f"{_shown(url)} is not an https URL"
    if parts.username is not None or parts.password is not None:
        return f"{_shown(url)} carries a user name or password"
    if scheme == "http" and not is_loopback_host(host):
        return f"{_shown(url)} is plain http to another computer (downloads use https; http only to this computer)"
    return None


def check_download_url(url: str, hint: str, exit_code: int = 1) -> str:
    """``url`` when the rule allows it; else ParticlePyError "Refusing to download ..." with ``hint``."""
    problem = download_problem(url)
    if problem:
        raise ParticlePyError(f"Refusing to download: {problem}", hint, exit_code)
    return url


def _where(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower()


def urlopen(request, timeout: float, hint: str, exit_code: int = 1):
    """urllib's urlopen (TLS verified, *_proxy honoured) for ``request`` (a URL or a Request),
    under the rule: the URL checked first, each redirect checked before it is followed. A
    refused URL or redirect is ParticlePyError with ``hint``; network failures stay urllib's."""
    import urllib.request

    url = request.full_url if isinstance(request, urllib.request.Request) else str(request)
    check_download_url(url, hint, exit_code)
    start = _where(url)

    class SameSite(urllib.request.HTTPRedirectHandler):
        max_redirections = MAX_REDIRECTS

        def redirect_request(self, req, fp, code, msg, headers, newurl):
            try:
                target = urllib.parse.urljoin(req.full_url, newurl)
                where = _where(target)
            except ValueError:
                target, where = newurl, ("", "")
            if where != start:
                raise ParticlePyError(
                    f"Refusing to download {_shown(url)}: it redirects to {_shown(target)}, another "
                    f"{'scheme' if where[0] != start[0] else 'server'}", hint, exit_code)
            check_download_url(target, hint, exit_code)
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(SameSite()).open(request, timeout=timeout)
