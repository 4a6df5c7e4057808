"""Simulated devices of the serial tests (ids, Device OS eras, profile strings); a module of its
own so test files import it by name, not through whichever `conftest` pytest loaded last."""

DEVICE_IDS = {
    "photon": "3a0035000f47343432313031",
    "p1": "2d0042000847353138383138",
    "electron": "1f0038000e51353532343635",
    "argon": "e00fce68a1b2c3d4e5f60718",
    "boron": "e00fce68f1e2d3c4b5a69788",
    "p2": "0a10aced202194944a001be0",
    "core": "53ff6c065075535128311587",
}
PLATFORMS = ("photon", "p1", "electron", "argon", "boron", "p2")
# Device OS the old CLIs met (answers only the listening-mode serial protocol) and today's.
OLD_FW = "0.7.0"
CURRENT_FW = {"photon": "2.3.1", "p1": "2.3.1", "electron": "2.3.1", "argon": "4.2.0", "boron": "6.1.0", "p2": "5.8.0"}


def profile(platform, mode="normal", **opts):
    name = platform + ("-normal" if mode == "normal" else "")
    extra = ("real=1," if platform == "photon" and mode != "normal" else "") + f"id={DEVICE_IDS[platform]}"
    for k, v in opts.items():
        extra += f",{k}={v}"
    return f"{name}:{extra}"
