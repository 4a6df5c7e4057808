"""What `particle list` (`particle cloud list`) does, as particle-cli 3.51's
getAllDeviceAttributes: the account's devices from the cloud, the filter, the variables and
functions of the online ones, and 3.51's order."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from particle_py import events


@dataclass
class CloudDevice:
    device_id: str
    name: Optional[str]
    connected: bool
    product_id: Optional[int]
    platform_id: Optional[int]
    variables: dict = field(default_factory=dict)
    functions: list = field(default_factory=list)


def matches(filter_text: Optional[str]) -> Optional[Callable[[CloudDevice], bool]]:
    """3.51's buildDeviceFilter: online, offline, a platform name, else an id or a name."""
    from particle_py.platforms import by_name

    if not filter_text:
        return None
    if filter_text == "online":
        return lambda d: d.connected
    if filter_text == "offline":
        return lambda d: not d.connected
    platform = by_name(filter_text)
    if platform is not None and platform.name == filter_text:      # names only, no aliases
        return lambda d: d.platform_id == platform.platform_id
    return lambda d: d.device_id == filter_text or d.name == filter_text


def _locale_key(text: str) -> tuple:
    # String.prototype.localeCompare's root collation, near enough for device names: letters
    # compare without case first, and lower case comes before upper case only on a tie
    return (text.casefold(), text.swapcase())


def _compare(a: CloudDevice, b: CloudDevice) -> int:
    """3.51's comparator, inconsistent as it is: an online device goes after an offline one
    only when it is the first argument; else the names (a missing other name reads "null")."""
    if a.connected and not b.connected:
        return 1
    mine, theirs = _locale_key(a.name or ""), _locale_key("null" if b.name is None else b.name)
    return (mine > theirs) - (mine < theirs)


def js_sort(items: list, compare: Callable) -> list:
    """Array.prototype.sort as V8 does it for arrays shorter than 64 (its TimSort is then one
    run made by CountAndMakeRun, the rest by binary insertion), so that an inconsistent
    comparator orders the devices as particle-cli does; longer lists go the same way."""
    a = list(items)
    n = len(a)
    if n < 2:
        return a
    run = 2
    descending = compare(a[1], a[0]) < 0
    while run < n:
        order = compare(a[run], a[run - 1])
        if (descending and order >= 0) or (not descending and order < 0):
            break
        run += 1
    if descending:
        a[:run] = reversed(a[:run])
    for start in range(run, n):
        pivot = a[start]
        left, right = 0, start
        while left < right:
            mid = left + ((right - left) >> 1)
            if compare(pivot, a[mid]) < 0:
                right = mid
            else:
                left = mid + 1
        a[left + 1:start + 1] = a[left:start]
        a[left] = pivot
    return a


def list_devices(filter_text: Optional[str] = None, reporter: events.Reporter = events.QUIET
                 ) -> Optional[list[CloudDevice]]:
    """The devices to show, in 3.51's order; None when the account has none (3.51 then says
    "No devices found.")."""
    from particle_py.cloud.api import client_from_config, not_logged_in
    from particle_py.cloud.config import Settings

    settings = Settings()
    if not settings.access_token:
        raise not_logged_in()
    client = client_from_config(settings)
    listed = client.device_list()
    if not listed:
        return None
    wanted = matches(filter_text)
    devices = []
    for entry in listed:
        device = CloudDevice(entry["id"], entry["name"], entry["connected"], entry["product_id"],
                             entry["platform_id"])
        if wanted is not None and not wanted(device):
            continue
        if device.connected:
            reporter.detail(f"Reading the variables and functions of {device.device_id}")
            attributes = client.device_attributes(device.device_id)
            # 3.51 extends the listed device with its record: the record's name and state win
            device.variables, device.functions = attributes["variables"], attributes["functions"]
            device.connected = attributes["connected"]
            device.name = attributes.get("name", device.name)
        devices.append(device)
    return js_sort(devices, _compare)
