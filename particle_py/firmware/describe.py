"""What `particle binary inspect` says about a module, as text lines (no printing here)."""
from __future__ import annotations

import os

from particle_py.errors import ParticlePyError
from particle_py.firmware.classify import largest_firmware, read_input_file
from particle_py.firmware.module import FUNCTION_PHRASES, NOT_A_PRODUCT, FirmwareModule, parse


def _phrase(function: int) -> str:
    return FUNCTION_PHRASES[function] if 0 <= function < len(FUNCTION_PHRASES) else FUNCTION_PHRASES[0]


def describe(module: FirmwareModule, filename: str) -> list[str]:
    """The lines particle-cli prints for a parsed module; ParticlePyError when it has no info."""
    from particle_py.platforms import by_id

    if not module.has_info:
        raise ParticlePyError(f"{filename} does not contain inspection information",
                              "It has no Particle module header: it is not a Device OS module or app binary.")
    prefix, suffix = module.prefix, module.suffix
    lines = [os.path.basename(filename)]
    if module.crc_ok:
        lines.append(" CRC is ok (%08x)" % module.actual_crc)
    else:
        lines.append(" CRC failed (should be %08x but is %08x)" % (module.stored_crc, module.actual_crc))
    platform = by_id(prefix.platform_id)
    if platform is not None:
        lines.append(f" Compiled for {platform.name}")
    else:
        lines.append(f" Compiled for unknown platform (ID: {prefix.platform_id})")
    lines.append(f" This is {_phrase(prefix.function)} number {prefix.index} at version {prefix.version}")
    if suffix.product_id not in (-1, NOT_A_PRODUCT):
        lines.append(f" It is firmware for product id {suffix.product_id} at version {suffix.product_version}")
    for dep in prefix.dependencies:
        lines.append(f" It depends on {_phrase(dep.function)} number {dep.index} at version {dep.version}")
    if module.sha256_ok is False:
        lines.append(" SHA-256 in the suffix does not match the file")
    if len(module.data) > prefix.size:
        lines.append(f" The file has {len(module.data) - prefix.size} bytes after the module end")
    return lines


def inspect_file(path: str) -> list[str]:
    if not os.path.exists(path):
        raise ParticlePyError(f"Binary file not found {path}")
    if os.path.isdir(path):
        raise ParticlePyError(f"Could not parse {path}", f"{path} is a directory; give a .bin file.")
    data = read_input_file(path, largest_firmware(), "firmware file")
    return describe(parse(data), path)
