"""particle-cli's own config files, so a particle-cli user is already logged in here.

``<home>/.particle/profile.json`` names the active profile (default ``particle``);
``<home>/.particle/<profile>.config.json`` holds ``access_token``, ``username``,
``apiUrl`` ... merged over the defaults. Files are written 2-space JSON, mode 0600.
Home is the first existing directory among $home, $HOME, $HOMEPATH, $USERPROFILE,
as particle-cli looks for it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

from particle_py.errors import ParticlePyError

DEFAULT_API_URL = "https://api.particle.io"
DEFAULT_PROFILE = "particle"
STAGING_API_URL = "https://api.staging.particle.io"


def home_dir() -> Path:
    for var in ("home", "HOME", "HOMEPATH", "USERPROFILE"):
        value = os.environ.get(var)
        if value and os.path.isdir(value):
            return Path(value)
    return Path.home()


def particle_dir() -> Path:
    return home_dir() / ".particle"


def _read_json(path: Path) -> dict:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ParticlePyError(f"Error reading file {path}: {exc.strerror or exc}",
                              f"Check that {path.parent} is a folder you can read, then run the command again.")
    try:
        from particle_py.cloud.http import MAX_BODY, MAX_DEPTH, json_depth

        text = raw.decode("utf-8-sig")
        if len(raw) > MAX_BODY:         # bounded like a cloud answer: a config is a few hundred bytes
            raise ValueError("larger than 1 MiB")
        if json_depth(text) > MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
        value = json.loads(text) if text.strip() else {}
    except ValueError as exc:           # UnicodeDecodeError is a ValueError too
        raise ParticlePyError(f"Error parsing file {path}: {exc}",
                              "Fix the JSON in that file or delete it, then run the command again.")
    if not isinstance(value, dict):
        raise ParticlePyError(f"Error parsing file {path}: expected a JSON object",
                              "Fix the JSON in that file or delete it, then run the command again.")
    return value


def profile_name() -> str:
    path = particle_dir() / "profile.json"
    name = _read_json(path).get("name")
    if not (isinstance(name, str) and name):
        return DEFAULT_PROFILE
    # the name becomes part of a file name: no folders, no NUL, nothing hidden
    if any(c in name for c in "/\\\0:") or name.startswith(".") or not name.isprintable() or len(name) > 100:
        raise ParticlePyError(f"Error parsing file {path}: the profile name is not a usable file name",
                              "Set \"name\" in that file to a plain profile name (such as \"particle\") or delete "
                              "the file, then run the command again.")
    return name


def config_path(profile: Optional[str] = None) -> Path:
    return particle_dir() / f"{profile or profile_name()}.config.json"


class Settings:
    """The active profile's settings; ``save`` writes back only what this file holds."""

    def __init__(self, profile: Optional[str] = None):
        self.profile = profile or profile_name()
        self.path = config_path(self.profile)
        self.values: dict[str, Any] = _read_json(self.path)

    @property
    def access_token(self) -> Optional[str]:
        token = self.values.get("access_token")
        return token if isinstance(token, str) and token else None

    @property
    def username(self) -> Optional[str]:
        value = self.values.get("username")
        return value if isinstance(value, str) and value else None

    @property
    def api_url(self) -> str:
        """The API address, checked: an http(s) URL with a host; plain http only on loopback or
        when the user allows it (cloud.http.ALLOW_HTTP_ENV). Our error names this file."""
        from particle_py.cloud.http import check_api_url

        url = self.values.get("apiUrl") or DEFAULT_API_URL
        if url == "staging":
            url = STAGING_API_URL
        if not isinstance(url, str):
            raise ParticlePyError(f"The apiUrl in {self.path} is not a string.",
                                  f"Set apiUrl in {self.path} to the API's address, such as "
                                  f"https://api.particle.io, or remove it; then run the command again.")
        return check_api_url(url.rstrip("/"), str(self.path))

    @property
    def proxy_url(self) -> Optional[str]:
        """particle-cli's ``proxyUrl`` setting (the HTTPS_PROXY family of variables wins)."""
        value = self.values.get("proxyUrl")
        return value if isinstance(value, str) and value.startswith(("http://", "https://")) else None

    @property
    def token_expires_at(self) -> Optional[str]:
        value = self.values.get("access_token_expires_at")
        return value if isinstance(value, str) else None

    def update(self, **changes) -> None:
        """Set (or with None, remove) keys and write the file at once, mode 0600."""
        for key, value in changes.items():
            if value is None:
                self.values.pop(key, None)
            else:
                self.values[key] = value
        self.save()

    def save(self) -> None:
        from particle_py.private_files import write_secret_file
        text = json.dumps(self.values, indent=2) + "\n"
        write_secret_file(self.path, text.encode("utf-8"))
