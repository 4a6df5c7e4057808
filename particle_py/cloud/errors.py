"""The cloud's error type, below the API client and its HTTP plumbing, which both raise it."""
from __future__ import annotations

from typing import Optional

from particle_py.errors import ParticlePyError


class ApiError(ParticlePyError):
    """An error answer from the API: ``status`` is the HTTP status (0 = not reached)."""

    def __init__(self, message: str, hint: Optional[str] = None, status: int = 0, body: Optional[dict] = None):
        super().__init__(message, hint, 1)
        self.status = status
        self.body = body or {}
