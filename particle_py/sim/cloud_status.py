"""The simulated Device OS's cloud connection status (CLOUD_GET_CONNECTION_STATUS 300), from the
boot model: CONNECTED only when the device shows breathing cyan (or magenta, in safe mode),
DISCONNECTED in listening mode (the cloud connection is closed there), CONNECTING while the
handshake fails or no simulated cloud runs. Stdlib only.
"""
from __future__ import annotations

from particle_py import control_codes as codes
from particle_py import platforms
from . import boot
from . import protobuf

DISCONNECTED, CONNECTING, CONNECTED = 0, 1, 2
# Gen3 answers from 0.9.0, Gen2 from 1.1.0 (particle-usb cloud-device.js)
SINCE = {2: (1, 1, 0), 3: (0, 9, 0), 4: (0, 0, 0)}


def connection_status(dev, platform) -> int:
    if dev.mode == codes.MODE_LISTENING:
        return DISCONNECTED
    if not dev.profile.device_id:
        return CONNECTING
    view = boot.open_cloud_view(dev.state_dir) if dev.state_dir else None
    outcome = boot.boot(platform, dev._read_board, dev.profile.device_id, view,
                        safe_requested=dev.safe_mode, setup_check=False)
    return CONNECTED if outcome.connected else CONNECTING


def cloud_family(dev) -> dict:
    platform = platforms.by_name(dev.profile.platform or "")
    if platform is None:
        return {}

    def status(payload):
        since = SINCE.get(platform.generation)
        if since is None or boot._version(dev.running_version()) < since:
            return codes.RESULT_NOT_SUPPORTED, b""
        return codes.RESULT_OK, protobuf.uint(1, connection_status(dev, platform))

    return {codes.CLOUD_GET_CONNECTION_STATUS: status}
