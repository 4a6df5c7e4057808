"""What the doctor can find wrong, as data: each problem, the LED it makes the device show, and
the repair step that fixes it.

The LED words are the ones docs.particle.io and users use (device-behaviour.md §1). The order
of ``BOOT_ORDER`` is the order Device OS meets the problems while it boots, so the first
problem found decides the LED; docs/doctor.md lists the same table and a test keeps the
two and the simulator's boot model from drifting apart.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# LED state -> what the user sees
LED = {
    "dfu": "blinking yellow",
    "listening": "blinking blue",
    "decryption_error": "blinking cyan with 1 orange burst",
    "bad_server_key": "blinking cyan with 3 orange bursts",
    "bad_device_key": "blinking cyan with 1 red burst",
    "connected": "breathing cyan",
    "connected_safe": "breathing magenta",
}


@dataclass(frozen=True)
class Problem:
    led: Optional[str]        # key of LED, None when the LED does not show it (ownership)
    repair: str               # name of the repair step (doctor/repair.py REPAIRS)
    summary: str              # one line for the docs table


PROBLEMS = {
    "device_os_missing": Problem("dfu", "device_os", "a Device OS system part is missing (erased flash)"),
    "device_os_invalid": Problem("dfu", "device_os",
                                 "a Device OS system part is corrupt (CRC), cut short or for another platform"),
    "device_os_dependency": Problem("dfu", "device_os",
                                    "a Device OS system part needs another part's newer version"),
    "device_os_needs_bootloader": Problem("connected_safe", "device_os",
                                          "Device OS needs a newer bootloader (safe mode)"),
    "device_key_empty": Problem("decryption_error", "keys_doctor",
                                "the device key slot is empty (Device OS makes a key the cloud does not know)"),
    "device_key_unusable": Problem("bad_device_key", "keys_doctor",
                                   "the device key cannot be used: PKCS#8 (OpenSSL 3), too long for its slot, "
                                   "the wrong type for the protocol, or not a key"),
    "server_key_wrong": Problem("bad_server_key", "server_key",
                                "the server key is missing, not a key, or not the cloud's"),
    "server_address_wrong": Problem("bad_server_key", "server_key",
                                    "the server address in the server-key slot is not the cloud's"),
    "cloud_key_mismatch": Problem("decryption_error", "send_key",
                                  "the cloud holds another public key for the device (it is offline with "
                                  "valid keys)"),
    "app_missing": Problem("connected_safe", "tinker", "no user application (safe mode)"),
    "app_invalid": Problem("connected_safe", "tinker",
                           "the user application is corrupt (CRC) or for another platform (safe mode)"),
    "app_needs_newer_device_os": Problem("connected_safe", "tinker",
                                         "the user application needs a newer Device OS (safe mode)"),
    "listening_mode": Problem("listening", "restart", "the device is in listening mode"),
    "not_claimed": Problem(None, "claim", "the device is not claimed to the account logged in"),
}

# Device OS meets these in this order while booting: the first one present decides the LED.
BOOT_ORDER = ("device_os_missing", "device_os_invalid", "device_os_dependency", "device_os_needs_bootloader",
              "device_key_empty",
              "device_key_unusable", "server_key_wrong", "server_address_wrong", "cloud_key_mismatch",
              "app_missing", "app_invalid", "app_needs_newer_device_os")


# Findings that say a fact could not be read (the text says what would find it out).
UNKNOWN_CODES = frozenset({"cloud_key_unknown", "cloud_not_asked", "cloud_unreachable", "not_logged_in",
                           "server_key_unchecked", "firmware_not_checked"})


@dataclass
class Finding:
    """One verdict: ``code`` is a key of PROBLEMS when something is wrong, else an 'ok'/'info' code."""
    area: str                 # firmware, mode, transport, device-key, server-key, cloud
    code: str
    text: str                 # plain words
    problem: bool = False
    facts: dict = field(default_factory=dict)     # JSON-safe details, never secrets

    @property
    def unknown(self) -> bool:
        """Not checked, or not knowable from here: never shown as "ok"."""
        return not self.problem and self.code in UNKNOWN_CODES

    @property
    def led(self) -> Optional[str]:
        return LED.get(PROBLEMS[self.code].led) if self.problem and PROBLEMS[self.code].led else None

    @property
    def repair(self) -> Optional[str]:
        return PROBLEMS[self.code].repair if self.problem else None

    def line(self) -> str:
        if self.problem and self.led:
            return f"{self.led}: {self.text}"
        return self.text

    def as_json(self) -> dict:
        out = {"area": self.area, "code": self.code, "problem": self.problem, "text": self.text}
        if self.unknown:
            out["unknown"] = True
        if self.problem:
            out["led"] = self.led
            out["repair"] = self.repair
        if self.facts:
            out["facts"] = self.facts
        return out


def led_after_boot(findings: list[Finding]) -> str:
    """The LED state the device shows once it boots from what it holds (listening mode aside)."""
    codes = {f.code for f in findings if f.problem}
    for code in BOOT_ORDER:
        if code in codes and PROBLEMS[code].led != "connected_safe":
            return PROBLEMS[code].led
    if any(PROBLEMS[c].led == "connected_safe" for c in codes):
        return "connected_safe"
    return "connected"
