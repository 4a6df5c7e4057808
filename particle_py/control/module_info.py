"""The module info family: Device OS's own list of its firmware modules, the GetModuleInfo
control request (type 90).

One parser for both readers: ``particle update`` (is a module there and valid?) and
``particle serial inspect`` (print it as particle-cli 3.21+ does). The reply is particle-usb's
``getFirmwareModuleInfo`` input (device-os-protobuf control/storage.proto GetModuleInfoReply):

- Device OS 0.8/0.9 to 5.5: ``modules_deprecated`` (field 1): type in the old numbering, index,
  version, size, ``validity`` = failed checks (1 integrity, 2 dependencies), dependencies.
  Main-store modules only; no max size, store or hash.
- Device OS 5.6+: ``modules`` (field 2, cloud/describe.proto FirmwareModule): type, index,
  version, store, max size, checked and passed flags (fixed32; failed = checked ^ passed),
  SHA-256, dependencies, actual size. Every store.

particle-usb reads the deprecated list when it has entries, else ``modules``; so do we.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional

from particle_py.control.protobuf import Message
from particle_py.control_codes import GET_MODULE_INFO

# Module functions as the prefix stores them, which are also cloud FirmwareModuleType's numbers.
TYPE_NAMES = {0: "INVALID", 1: "RESOURCE", 2: "BOOTLOADER", 3: "MONO_FIRMWARE", 4: "SYSTEM_PART",
              5: "USER_PART", 6: "SETTINGS", 7: "NCP_FIRMWARE", 8: "RADIO_STACK", 9: "ASSET"}
# control/storage.proto's older FirmwareModuleType -> module function
DEPRECATED_TYPES = {1: 2, 2: 4, 3: 5, 4: 3, 5: 7, 6: 8}
STORES = {0: "main", 1: "factory", 2: "backup", 3: "scratchpad"}
# failed-check bits and particle-usb's names for them, per format
VALIDITY_ERRORS = ((2, "INTEGRITY_CHECK_FAILED"), (4, "DEPENDENCY_CHECK_FAILED"),
                   (8, "RANGE_CHECK_FAILED"), (16, "PLATFORM_CHECK_FAILED"))
DEPRECATED_VALIDITY_ERRORS = ((1, "INTEGRITY_CHECK_FAILED"), (2, "DEPENDENCY_CHECK_FAILED"))


def type_name(function: int) -> str:
    return TYPE_NAMES.get(function, "UNKNOWN")


class Dependency(NamedTuple):
    function: int
    index: int
    version: int

    @property
    def type(self) -> str:
        return type_name(self.function)


@dataclass(frozen=True)
class ModuleInfo:
    function: int                     # module function (0 when Device OS sent a type we do not know)
    index: int
    version: int
    size: int
    valid: bool                       # every check Device OS made passed
    dependencies: tuple = ()          # Dependency, ...
    store: str = "main"
    max_size: Optional[int] = None    # 5.6+ only
    hash: Optional[str] = None        # SHA-256 hex, 5.6+ only
    validity_errors: tuple = ()       # particle-usb's names of the failed checks

    @property
    def type(self) -> str:
        return type_name(self.function)


def _failed(bits: int, names) -> tuple:
    return tuple(name for bit, name in names if bits & bit)


def _deprecated(m: Message) -> ModuleInfo:
    def function(number: int) -> int:
        return DEPRECATED_TYPES.get(number, 0)

    deps = tuple(Dependency(function(d.uint(1)), d.uint(2), d.uint(3)) for d in m.messages(6))
    failed = m.uint(5)
    return ModuleInfo(function(m.uint(1)), m.uint(2), m.uint(3), m.uint(4), failed == 0, deps,
                      validity_errors=_failed(failed, DEPRECATED_VALIDITY_ERRORS))


def _current(m: Message) -> ModuleInfo:
    deps = tuple(Dependency(d.uint(1), d.uint(2), d.uint(3)) for d in m.messages(9))
    failed = m.uint(6) ^ m.uint(7)
    return ModuleInfo(m.uint(1), m.uint(2), m.uint(3), m.uint(11), failed == 0, deps,
                      store=STORES.get(m.uint(4), "unknown"), max_size=m.uint(5), hash=m.bytes(8).hex(),
                      validity_errors=_failed(failed, VALIDITY_ERRORS))


def parse(reply: bytes) -> list[ModuleInfo]:
    """The modules of a GetModuleInfoReply; ProtoError (a ParticlePyError) if it cannot be read."""
    top = Message(reply)
    deprecated = top.messages(1)
    if deprecated:
        return [_deprecated(m) for m in deprecated]
    return [_current(m) for m in top.messages(2)]


def read(session) -> Optional[list[ModuleInfo]]:
    """The modules Device OS runs (its main store) as it reports them, or None when it does not
    answer this request (too old, or a reply that cannot be read): then the flash is read over DFU."""
    from particle_py.errors import ParticlePyError

    try:
        reply = session.request(GET_MODULE_INFO)
    except ParticlePyError:
        return None
    if not reply.ok:
        return None
    try:
        return [m for m in parse(reply.data) if m.store == "main"]
    except ParticlePyError:
        return None
