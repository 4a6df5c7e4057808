"""Application requests (APP_CUSTOM 10) on the simulated device. Device OS hands them to the
user firmware's ``ctrl_request_custom_handler``; its weak default, which Tinker and the
simulated stand-in apps keep, answers NOT_SUPPORTED (system/src/system_control_internal.cpp).
A device with no valid application (safe mode, or none flashed) answers the same. Stdlib only.
"""
from __future__ import annotations

from particle_py import control_codes as codes


def app_family(dev) -> dict:
    return {codes.APP_CUSTOM: lambda payload: (codes.RESULT_NOT_SUPPORTED, b"")}
