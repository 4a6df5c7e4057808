"""The simulated Device OS's Wi-Fi credentials and radio (system/src/control/wifi_new.cpp and
hal/network/ncp/wifi/wifi_network_manager.cpp), answered over control requests 500-507.

A board keeps its known networks as Device OS keeps /sys/wifi_config.bin: across resets, mode
changes and unplugging. Here that is ``unit<N>-wifi.json`` in the simulator folder (owner-only:
it holds passwords, as the device's file does), carried between device objects in the board's
``memories`` like its flash. The radio's neighbourhood is a small table of access points in the
same file, so joining an SSID nobody broadcasts fails as on a real device, and a test can add one.

Which device is connected: the network joined last, until the board restarts (a new USB device
number); after a restart the first known network whose access point answers, as Device OS's
auto-connect does. Stdlib only.
"""
from __future__ import annotations

import json
import os
from typing import Optional

from particle_py import control_codes as codes
from particle_py import platforms
from . import device_info
from . import protobuf

KEY = "wifi"                                  # the board's memories entry
MAX_KNOWN = 10                                # wifi_network_manager.h MAX_CONFIGURED_WIFI_NETWORK_COUNT
CREDENTIALS_TYPES = (0, 1)                    # NO_CREDENTIALS, PASSWORD

ACCESS_POINTS = (
    {"ssid": "particle-sim", "security": 3, "password": "particle-sim-pass", "bssid": "02:50:51:00:00:01",
     "channel": 6, "rssi": -48},
    {"ssid": "sim-cafe", "security": 0, "password": None, "bssid": "02:50:51:00:00:02", "channel": 1, "rssi": -67},
    {"ssid": "sim-wpa3", "security": 5, "password": "wpa3-sim-pass", "bssid": "02:50:51:00:00:03",
     "channel": 11, "rssi": -72},
)

# What a failed connect answers: the ESP32 NCP's AT+CWJAP error (AT_NOT_OK), Realtek's
# wifi_connect failure as rtl_error_to_system maps it (INVALID_STATE)
JOIN_FAILURE = {"argon": -1200}
JOIN_FAILURE_DEFAULT = codes.RESULT_INVALID_STATE


def answers_credentials_request(fw: str) -> bool:
    """SET_NETWORK_CREDENTIALS came with 5.8.2 and is in 5.9.0 and from 6.2.0 (git tag --contains
    of device-os 8598104c0); 6.0.x and 6.1.x were branched before it."""
    v = device_info.version_tuple(fw)
    return (5, 8, 2) <= v < (6, 0, 0) or v >= (6, 2, 0)


class BoardWifi:
    """The board's Wi-Fi storage; ``save`` is called with the board's flash (bus.save)."""

    enforce = True                    # the flash files' attribute the device sets on its memories

    def __init__(self, path: Optional[str]):
        self.path = path
        self.known: list = []
        self.current: Optional[dict] = None      # {"ssid", "devnum"}
        self.access_points = [dict(ap) for ap in ACCESS_POINTS]
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            self.known = list(data.get("known", []))
            self.current = data.get("current")
            self.access_points = list(data.get("access_points", self.access_points))

    def save(self) -> None:
        if not self.path:
            return
        from .private import write_private

        data = {"known": self.known, "current": self.current, "access_points": self.access_points}
        write_private(self.path, json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))

    # --- the radio ------------------------------------------------------------------------
    def access_point(self, ssid: str) -> Optional[dict]:
        return next((ap for ap in self.access_points if ap.get("ssid") == ssid), None)

    def accepts(self, network: dict) -> bool:
        """Whether the access point of this network lets these credentials in."""
        ap = self.access_point(network.get("ssid", ""))
        if ap is None:
            return False
        if not ap.get("password"):
            return True
        return network.get("credentials_type") == 1 and network.get("password") == ap["password"]

    def connected(self, devnum: int) -> Optional[dict]:
        """The access point this board is connected to now."""
        if self.current is not None and self.current.get("devnum") != devnum:
            self.current = None               # restarted: auto-connect below
            for network in self.known:
                if self.accepts(network):
                    self.current = {"ssid": network["ssid"], "devnum": devnum}
                    break
            else:
                self.current = {"ssid": None, "devnum": devnum}
        if self.current is None or not self.current.get("ssid"):
            return None
        return self.access_point(self.current["ssid"])

    def connect(self, ssid: Optional[str], devnum: int) -> None:
        self.current = {"ssid": ssid, "devnum": devnum}

    def remember(self, network: dict) -> None:
        for i, known in enumerate(self.known):
            if known["ssid"] == network["ssid"]:
                self.known[i] = network
                return
        if len(self.known) >= MAX_KNOWN:
            self.known[-1] = network          # setNetworkConfig replaces the last one
        else:
            self.known.append(network)


def board(dev) -> BoardWifi:
    store = dev.memories.get(KEY)
    if store is None:
        path = os.path.join(dev.state_dir, f"unit{dev.unit}-wifi.json") if dev.state_dir else None
        store = dev.memories[KEY] = BoardWifi(path)
        if store.current is None:
            # a board first seen now: it runs, and has never been connected
            store.connect(None, dev.devnum)
    return store


def _config(fields: dict) -> dict:
    """A network config from a SetNetworkCredentials/JoinNewNetwork request's fields."""
    cred = protobuf.decode(protobuf.first(fields, 4, b""))
    bssid = protobuf.first(fields, 2, b"")
    return {"ssid": protobuf.first(fields, 1, b"").decode("utf-8", "replace"),
            "security": protobuf.first(fields, 3, 0) & 0xFFFFFFFF,
            "credentials_type": protobuf.first(cred, 1, 0),
            "password": protobuf.first(cred, 2, b"").decode("utf-8", "replace"),
            "hidden": bool(protobuf.first(fields, 6, 0)),
            "bssid": ":".join(f"{b:02x}" for b in bssid) if len(bssid) == 6 else None}


def _decode(payload: bytes):
    try:
        return protobuf.decode(payload)
    except ValueError:
        return None


def _int32(value: int) -> int:
    """An int32 as nanopb writes a negative one: ten bytes of two's complement."""
    return value & 0xFFFFFFFFFFFFFFFF


def _mac(text: Optional[str]) -> bytes:
    return bytes(int(part, 16) for part in text.split(":")) if text else b""


def wifi_family(dev) -> dict:
    """Requests 500-507 on a Gen3/Gen4 platform with Wi-Fi (Argon, P2/Photon 2, M-SoM)."""
    platform = platforms.by_name(dev.profile.platform or "")
    if platform is None or platform.generation < 3 or "wifi" not in platforms.networks(platform):
        return {}
    fw = dev.running_version()

    def set_credentials(payload):
        if not answers_credentials_request(fw):
            return codes.RESULT_NOT_SUPPORTED, b""
        fields = _decode(payload)
        if fields is None:
            return codes.RESULT_INVALID_FORMAT, b""
        network = _config(fields)
        if network["credentials_type"] not in CREDENTIALS_TYPES:
            return codes.RESULT_NOT_SUPPORTED, b""
        board(dev).remember(network)
        return codes.RESULT_OK, b""

    def join_new(payload):
        fields = _decode(payload)
        if fields is None:
            return codes.RESULT_INVALID_FORMAT, b""
        network = _config(fields)
        if network["credentials_type"] not in CREDENTIALS_TYPES:
            return codes.RESULT_NOT_SUPPORTED, b""
        store = board(dev)
        store.connected(dev.devnum)
        store.connect(None, dev.devnum)               # the join disconnects first
        if not store.accepts(network):
            return JOIN_FAILURE.get(platform.name, JOIN_FAILURE_DEFAULT), b""
        store.remember(network)
        store.connect(network["ssid"], dev.devnum)
        return codes.RESULT_OK, b""

    def join_known(payload):
        fields = _decode(payload)
        if fields is None:
            return codes.RESULT_INVALID_FORMAT, b""
        ssid = protobuf.first(fields, 1, b"").decode("utf-8", "replace")
        store = board(dev)
        store.connected(dev.devnum)
        store.connect(None, dev.devnum)
        found = next((n for n in store.known if n["ssid"] == ssid), None)
        if found is None or not store.accepts(found):
            return codes.WIFI_RESULT_NOT_FOUND, b""
        store.known.remove(found)                     # the joined network moves to the front
        store.known.insert(0, found)
        store.connect(ssid, dev.devnum)
        return codes.RESULT_OK, b""

    def known_networks(payload):
        body = b""
        for n in board(dev).known:
            body += protobuf.message(1, protobuf.message(1, n["ssid"].encode("utf-8"))
                                     + protobuf.uint(2, n["security"]) + protobuf.uint(3, n["credentials_type"]))
        return codes.RESULT_OK, body

    def remove(payload):
        fields = _decode(payload)
        if fields is None:
            return codes.RESULT_INVALID_FORMAT, b""
        ssid = protobuf.first(fields, 1, b"").decode("utf-8", "replace")
        store = board(dev)
        store.known = [n for n in store.known if n["ssid"] != ssid]     # connected stays connected
        return codes.RESULT_OK, b""

    def clear(payload):
        board(dev).known = []
        return codes.RESULT_OK, b""

    def current(payload):
        ap = board(dev).connected(dev.devnum)
        if ap is None:
            return codes.RESULT_INVALID_STATE, b""    # getNetworkInfo: not CONNECTED
        return codes.RESULT_OK, (protobuf.message(1, ap["ssid"].encode("utf-8"))
                                 + protobuf.message(2, _mac(ap.get("bssid")))
                                 + protobuf.uint(3, ap.get("channel", 0)) + protobuf.uint(4, _int32(ap.get("rssi", 0))))

    def scan(payload):
        body = b""
        for ap in board(dev).access_points:
            body += protobuf.message(1, protobuf.message(1, ap["ssid"].encode("utf-8"))
                                     + protobuf.message(2, _mac(ap.get("bssid")))
                                     + protobuf.uint(3, ap.get("security", 0)) + protobuf.uint(4, ap.get("channel", 0))
                                     + protobuf.uint(5, _int32(ap.get("rssi", 0))))
        return codes.RESULT_OK, body

    return {codes.WIFI_JOIN_NEW_NETWORK: join_new, codes.WIFI_JOIN_KNOWN_NETWORK: join_known,
            codes.WIFI_GET_KNOWN_NETWORKS: known_networks, codes.WIFI_REMOVE_KNOWN_NETWORK: remove,
            codes.WIFI_CLEAR_KNOWN_NETWORKS: clear, codes.WIFI_GET_CURRENT_NETWORK: current,
            codes.WIFI_SCAN_NETWORKS: scan, codes.WIFI_SET_NETWORK_CREDENTIALS: set_credentials}


def connected_ssid(dev) -> Optional[str]:
    """The SSID the device is connected to now (for the Wi-Fi interface's LOWER_UP flag)."""
    platform = platforms.by_name(dev.profile.platform or "")
    if platform is None or "wifi" not in platforms.networks(platform):
        return None
    ap = board(dev).connected(dev.devnum)
    return ap["ssid"] if ap else None
