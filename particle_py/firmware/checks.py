"""Whether a device runs what it holds: the dependency checks Device OS makes at boot.

Pure: the modules come in as ``Held`` (from a device's flash, or a file about to be written) and
the answer is what Device OS does with them, in its order (the simulator's ``sim/boot.py``
follows the same one): every system part present and its system-part dependencies met, else
no Device OS runs and the bootloader stays in DFU mode (blinking yellow); a bootloader or radio
stack older than the system parts need, or an app whose dependencies are not met, starts safe
mode (breathing magenta) until Device OS is updated.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from particle_py.module_layout import ModuleFunction as F

KIND_NAMES = {F.BOOTLOADER: "bootloader", F.SYSTEM_PART: "system part", F.USER_PART: "user part",
              F.RADIO_STACK: "radio stack"}


@dataclass(frozen=True)
class Held:
    """One module as the device holds it (or will, once written)."""
    function: int
    index: int
    version: int
    deps: tuple[tuple[int, int, int], ...] = ()
    name: str = ""                   # the file it comes from; "" for what is in flash already

    @classmethod
    def of(cls, module, name: str = "") -> "Held":
        """From anything that names a module's function, index, version and dependencies: a
        module prefix (a file, or flash) or an entry of Device OS's module info."""
        return cls(module.function, module.index, module.version,
                   tuple((d.function, d.index, d.version) for d in module.dependencies), name)

    @property
    def key(self) -> tuple[int, int]:
        return self.function, self.index

    def called(self) -> str:
        kind = KIND_NAMES.get(self.function, f"module {self.function}")
        number = f" {self.index}" if self.function == F.SYSTEM_PART else ""
        return f"{kind}{number} version {self.version}"


@dataclass(frozen=True)
class Unmet:
    module: Held                     # the one whose dependency is not met
    function: int
    index: int
    version: int                     # at least this
    held: Optional[int]              # what the device has (None: nothing there)
    held_name: str = ""              # the file that brings it, if one does

    def words(self) -> str:
        kind = KIND_NAMES.get(self.function, f"module {self.function}")
        number = f" {self.index}" if self.function == F.SYSTEM_PART else ""
        has = (f"{self.held_name} is version {self.held}" if self.held_name and self.held is not None else
               f"the device has version {self.held}" if self.held is not None else "the device has none")
        who = f"{self.module.name} ({self.module.called()})" if self.module.name else self.module.called()
        return f"{who} needs {kind}{number} version {self.version} or newer; {has}"


@dataclass(frozen=True)
class Outcome:
    mode: str                        # 'normal', 'safe', 'dfu' (no Device OS runs)
    unmet: Optional[Unmet] = None
    missing: tuple[int, ...] = ()    # system part numbers with no module in their slot

    @property
    def runs(self) -> bool:
        return self.mode != "dfu"


def _unmet(module: Held, present: dict, functions) -> Optional[Unmet]:
    for function, index, version in module.deps:
        if function not in functions:
            continue
        other = present.get((function, index))
        if other is None or other.version < version:
            return Unmet(module, function, index, version, other.version if other else None,
                         other.name if other else "")
    return None


def outcome(modules: list[Held], system_parts: int, *, modelled: frozenset = frozenset(),
            app_known: bool = False) -> Outcome:
    """What Device OS does with ``modules`` on a platform with ``system_parts`` slots.
    ``modelled``: the other functions whose modules were read (a dependency on a kind that could
    not be read, e.g. a bootloader with no address in the platform table, counts as met);
    ``app_known``: the app was looked for, so none among ``modules`` means there is none (safe
    mode, with no unmet dependency to name)."""
    present = {m.key: m for m in modules}
    missing = tuple(n for n in range(1, system_parts + 1) if (F.SYSTEM_PART, n) not in present)
    if missing:
        return Outcome("dfu", missing=missing)
    system = [present[(F.SYSTEM_PART, n)] for n in range(1, system_parts + 1)]
    for module in system:
        unmet = _unmet(module, present, {F.SYSTEM_PART})
        if unmet:
            return Outcome("dfu", unmet)
    known = {F.SYSTEM_PART, F.USER_PART} | set(modelled)
    for module in system + [m for m in modules if m.function == F.USER_PART]:
        unmet = _unmet(module, present, known)
        if unmet:
            return Outcome("safe", unmet)
    if app_known and not any(m.function == F.USER_PART for m in modules):
        return Outcome("safe")
    return Outcome("normal")


def after_write(held: list[Held], written: list[Held]) -> list[Held]:
    """What the device holds once ``written`` replaced the modules in the same slots."""
    new = {m.key: m for m in held}
    for m in written:
        new[m.key] = m
    return list(new.values())


def release_providing(platform_name: str, function: int, index: int, version: int) -> Optional[str]:
    """The oldest pinned Device OS release for the platform whose module (function, index) has at
    least ``version``: what `particle update --target` installs to meet that need."""
    from particle_py.firmware.releases import pinned, versions_for

    for release in versions_for(platform_name):
        found = pinned(release, platform_name)
        if any(m.function == function and m.index == index and m.module_version >= version
               for m in found.modules):
            return release
    return None


def release_of(platform_name: str, module: Held) -> Optional[str]:
    """The pinned release a module file belongs to (same function, index and module version)."""
    from particle_py.firmware.releases import pinned, versions_for

    for release in versions_for(platform_name):
        found = pinned(release, platform_name)
        if any((m.function, m.index, m.module_version) == (module.function, module.index, module.version)
               for m in found.modules):
            return release
    return None
