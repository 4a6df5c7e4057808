"""The Wi-Fi family: the credentials a Gen3/Gen4 Wi-Fi device keeps, over USB control requests.

Requests are encoded as particle-usb's ``wifi-device.js`` sends them through protobufjs (a field
set in its object is written even when it holds the default: ``security: 0``, ``hidden: false``),
so the bytes on the wire are particle-cli 3.51's. Replies are outside input: bad bytes raise
only ``ProtoError``. Messages: device-os-protobuf control/wifi_new.proto.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from particle_py.control.protobuf import Message, ProtoError, _varint_bytes, bytes_field

# wifi_new.proto Security, in particle-cli's spelling (WifiSecurityEnum names)
SECURITY_NAMES = {0: "NO_SECURITY", 1: "WEP", 2: "WPA_PSK", 3: "WPA2_PSK", 4: "WPA_WPA2_PSK", 5: "WPA3_PSK",
                  6: "WPA2_WPA3_PSK"}
# particle-usb's WiFiSecurity names (what particle-cli converts user input to) -> protobuf number
SECURITY_NUMBERS = {"NONE": 0, "WEP": 1, "WPA_PSK": 2, "WPA2_PSK": 3, "WPA_WPA2_PSK": 4, "WPA3_PSK": 5,
                    "WPA2_WPA3_PSK": 6}
CREDENTIALS_PASSWORD = 1
MAX_SSID_BYTES = 32          # 802.11's limit; Device OS keeps no longer name


@dataclass(frozen=True)
class Credentials:
    ssid: str
    security: Optional[str] = None      # a SECURITY_NUMBERS name, None: not given
    password: Optional[str] = None      # None: an open network (no credentials sent)
    hidden: bool = False


@dataclass(frozen=True)
class KnownNetwork:
    ssid: str
    security: int
    credentials_type: int

    @property
    def security_name(self) -> str:
        # particle-cli prints WifiSecurityEnum[n], which is "undefined" for a number it lacks
        return SECURITY_NAMES.get(self.security, "undefined")


@dataclass(frozen=True)
class CurrentNetwork:
    ssid: str
    bssid: str          # aa:bb:cc:dd:ee:ff, "" when the reply has none
    channel: int
    rssi: int


def _key(number: int, wire: int) -> bytes:
    return _varint_bytes(number << 3 | wire)


def _varint_field(number: int, value: int) -> bytes:
    """A number written even when it is 0 (protobufjs writes every property that is set)."""
    return _key(number, 0) + _varint_bytes(value & 0xFFFFFFFFFFFFFFFF if value < 0 else value)


def _text(number: int, text: str) -> bytes:
    return bytes_field(number, text.encode("utf-8"))


def credentials_request(cred: Credentials) -> bytes:
    """SetNetworkCredentialsRequest (507) and JoinNewNetworkRequest (500): the same fields."""
    out = _text(1, cred.ssid)
    if cred.password is None:
        return out + _varint_field(3, 0)            # security: 0, nothing else
    if cred.security is not None:
        out += _varint_field(3, SECURITY_NUMBERS[cred.security])
    out += bytes_field(4, _varint_field(1, CREDENTIALS_PASSWORD) + _text(2, cred.password))
    return out + _varint_field(6, 1 if cred.hidden else 0)


def ssid_request(ssid: str) -> bytes:
    """JoinKnownNetworkRequest (501) and RemoveKnownNetworkRequest (503)."""
    return _text(1, ssid)


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _ssid(message: Message, number: int) -> str:
    raw = message.bytes(number)
    if len(raw) > MAX_SSID_BYTES:
        raise ProtoError(f"an SSID of {len(raw)} bytes (802.11 allows {MAX_SSID_BYTES})")
    return raw.decode("utf-8", "replace")


def parse_known_networks(data: bytes) -> list[KnownNetwork]:
    """GetKnownNetworksReply: the networks in the device's order."""
    return [KnownNetwork(_ssid(n, 1), n.uint(2), n.uint(3)) for n in Message(data).messages(1)]


def parse_current_network(data: bytes) -> CurrentNetwork:
    """GetCurrentNetworkReply."""
    reply = Message(data)
    bssid = reply.bytes(2)
    if len(bssid) not in (0, 6):
        raise ProtoError(f"a BSSID of {len(bssid)} bytes")
    return CurrentNetwork(_ssid(reply, 1), ":".join(f"{b:02x}" for b in bssid),
                          _int32(reply.uint(3)), _int32(reply.uint(4)))


__all__ = ["Credentials", "KnownNetwork", "CurrentNetwork", "SECURITY_NAMES", "SECURITY_NUMBERS",
           "credentials_request", "ssid_request", "parse_known_networks", "parse_current_network",
           "ProtoError"]
