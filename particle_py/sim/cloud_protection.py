"""The simulated cloud's side of Service Mode: ``PUT /v1/devices/:id/unprotect`` with
``action=prepare`` (a server nonce) and ``action=confirm`` (the device's signature checked with
its registered key, then the cloud's own signature), as particle-api-js ``unprotectDevice`` and
particle-cli 3.51's device-protection-helper.js use it and Device OS checks it
(system/src/control/config.cpp). What is signed is ``protection.device_digest`` and
``protection.server_digest``. Stdlib only at import; ``cryptography`` inside the functions.
"""
from __future__ import annotations

import base64
import os
import threading
from typing import Optional

from particle_py import control_codes as codes

from . import protection

# (cloud database path, device id) -> the server nonce handed out by the last prepare
_NONCES: dict = {}
_LOCK = threading.Lock()
NO_KEY = "Device public key was not found"


def _b64(form: dict, key: str) -> Optional[bytes]:
    try:
        return base64.b64decode(form.get(key) or "", validate=True)
    except ValueError:
        return None


def unprotect(db, device_id: str, user: str, form: dict) -> tuple[int, dict]:
    """(HTTP status, JSON body) for one unprotect request."""
    device = db.device(device_id)
    if device is None:
        return 404, {"ok": False, "error": "Device not found."}
    if device["owner"] and device["owner"] != user:
        return 403, {"ok": False, "error": "Permission Denied"}
    action = form.get("action")
    slot = (str(db.path), device_id.lower())
    if action == "prepare":
        nonce = os.urandom(codes.PROTECTION_NONCE_SIZE)
        with _LOCK:
            _NONCES[slot] = nonce
        return 200, {"server_nonce": base64.b64encode(nonce).decode()}
    if action != "confirm":
        return 400, {"ok": False, "error": "action must be prepare or confirm"}
    with _LOCK:
        expected = _NONCES.pop(slot, None)
    server_nonce, device_nonce = _b64(form, "server_nonce"), _b64(form, "device_nonce")
    signature, fingerprint = _b64(form, "device_signature"), _b64(form, "device_public_key_fingerprint")
    if expected is None or server_nonce != expected or not device_nonce or not signature or not fingerprint:
        return 400, {"ok": False, "error": "Invalid or expired server nonce"}
    return _confirm(db, device, server_nonce, device_nonce, signature, fingerprint)


def _confirm(db, device: dict, server_nonce: bytes, device_nonce: bytes, signature: bytes,
             fingerprint: bytes) -> tuple[int, dict]:
    import hashlib

    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    try:
        registered = base64.b64decode(device["public_key"] or "")
        key = serialization.load_der_public_key(registered)
        if hashlib.sha256(registered).digest() != fingerprint or not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValueError("another key")
        key.verify(signature, protection.device_digest(device["id"], device_nonce, server_nonce),
                   ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except (ValueError, TypeError, InvalidSignature):
        return 400, {"ok": False, "error": NO_KEY}
    folder = db.server_keys_dir()
    server = serialization.load_pem_private_key((folder / "server_ec.pem").read_bytes(), None)
    spki = (folder / "server_ec.pub.der").read_bytes()
    server_signature = server.sign(protection.server_digest(device["id"], server_nonce, device_nonce, fingerprint),
                                   ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    return 200, {"server_signature": base64.b64encode(server_signature).decode(),
                 "server_public_key_fingerprint": base64.b64encode(hashlib.sha256(spki).digest()).decode()}
