"""Simulated devices of the serial tests (ids, Device OS eras, profile strings); a module of its
own so test files import it by name, not through whichever `conftest` pytest loaded last."""

from helpers.simulator import DEVICE_IDS  # noqa: F401  (re-exported)

PLATFORMS = ("photon", "p1", "electron", "argon", "boron", "p2")
# Device OS the old CLIs met (answers only the listening-mode serial protocol) and today's.
OLD_FW = "0.7.0"
CURRENT_FW = {"photon": "2.3.1", "p1": "2.3.1", "electron": "2.3.1", "argon": "4.2.0", "boron": "6.1.0", "p2": "5.8.0"}


def profile(platform, mode="normal", **opts):
    """helpers.simulator's profile, but a running device unless ``mode`` says otherwise, and a
    running Photon without real=1 (its DFU mode is then the recorded dfu-util device's)."""
    name = platform + ("-normal" if mode == "normal" else "")
    extra = ("real=1," if platform == "photon" and mode != "normal" else "") + f"id={DEVICE_IDS[platform]}"
    for k, v in opts.items():
        extra += f",{k}={v}"
    return f"{name}:{extra}"
