"""Application requests: APP_CUSTOM (10) carries any payload to the user firmware's
``ctrl_request_custom_handler``; Device OS answers NOT_SUPPORTED when the app defines none.
The reply is the app's bytes, shown as text (particle-usb decodes it as UTF-8).
"""
from __future__ import annotations

from particle_py.control_codes import APP_CUSTOM


def send(session, payload: bytes):
    """The reply (result and data); a refused request type comes back as NOT_SUPPORTED."""
    return session.request(APP_CUSTOM, payload)


def reply_text(data: bytes) -> str:
    return bytes(data).decode("utf-8", "replace")
