"""Apps particle-cli knows by name (`particle flash --usb tinker`), pinned by SHA-256.

Paths are inside particle-cli's repository at tag v3.49.2 (particle_py.assets fetches
them). ``start`` is where the app goes when the file carries no module header (Core).
Sources: particle-cli assets/knownApps, sizes and hashes checked (compat/SOURCES.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class KnownApp:
    platform: str
    name: str
    path: str
    size: int
    sha256: str

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


_A = "assets/knownApps/"
KNOWN_APPS: tuple[KnownApp, ...] = (
    KnownApp("photon", "tinker", _A + "photon/tinker/tinker-0.4.5-photon.bin", 5324,
             "4122f115129c3565f6a56a0625beb15fcb366200e797160ae334776eecf7013f"),
    KnownApp("p1", "tinker", _A + "p1/tinker/tinker-0.4.5-p1.bin", 5324,
             "e4f6a51fb68407c39d535153d279ffa9a5ca09b9ee2dd2007d5c6469feff12f0"),
    KnownApp("electron", "tinker", _A + "electron/tinker/electron_tinker.bin", 5776,
             "c505033c91cdd6dadb1c5f386ea60fbf6986fd1f67cd7d7d8f9d3cfc3dd6688a"),
    KnownApp("electron", "tinker-usb-debugging",
             _A + "electron/tinker-usb-debugging/tinker-usb-debugging-0.6.0-electron.bin", 10464,
             "80ee543738ae31ca339191324139bf1a157448e65c41cec971451a1b6cc3f179"),
    KnownApp("core", "tinker", _A + "core/tinker/core_tinker.bin", 98932,
             "8e55851b39bcfb6a6ada1ee26fe968e36662abe7c1cee814b3f52e1d2616f051"),
    KnownApp("argon", "tinker", _A + "argon/tinker/tinker-0.8.0-rc.27-argon.bin", 11972,
             "7ae06a42c3387ebf1991c8a64353b11f46ee704bf99475c11bf2e38fab3b3121"),
    KnownApp("boron", "tinker", _A + "boron/tinker/tinker-0.8.0-rc.27-boron.bin", 11412,
             "1542d71c7bc9f1afd53f210e9ad16d7b0d3cb242b121675c51499c2c2b36552f"),
    KnownApp("xenon", "tinker", _A + "xenon/tinker/tinker-0.8.0-rc.27-xenon.bin", 11012,
             "779c196446fe35b0f2b4dd4f4ecb070e7a71c72c1bce6b4dd544e3b268f64648"),
    KnownApp("bsom", "tinker", _A + "bsom/tinker/tinker-1.1.0-rc.1-bsom.bin", 11644,
             "eaba9654e9ce64402a8241dd3654cb91ea411eaca583010e947b8bf06eec982c"),
    KnownApp("b5som", "tinker", _A + "b5som/tinker/tinker-1.5.0-b5som.bin", 12016,
             "d5aa20171d776af1a6b24acf927f71430768c68cddedc6bc6773f96f1433dc09"),
    KnownApp("tracker", "tinker", _A + "tracker/tinker/tracker-tinker@1.5.4-rc.1.bin", 11568,
             "0fa027b1c3bc9b5af54feba84643d053d55d6e4e12c207a64c3c650dca2bd09d"),
    KnownApp("esomx", "tinker", _A + "esomx/tinker/tinker-6.3.4-esomx.bin", 8854,
             "ee5d17d0182fbf1da6b95d0d8f1e3940e84f1ffda90664c66a8823fdbf2f21a2"),
    KnownApp("p2", "tinker", _A + "p2/tinker/tinker-5.0.0-p2.bin", 49152,
             "f8ddd12640b4a8d76c14ea289556a2141d4617f8e6ba9d0fd2749cc9b8a501b7"),
    KnownApp("trackerm", "tinker", _A + "trackerm/tinker/tinker-5.8.0-trackerm.bin", 49152,
             "a0d7e1742115aab550c2e55c2ed8f1fe9958fea1fec38ad50cedaa518b21420e"),
    KnownApp("msom", "tinker", _A + "msom/tinker/tinker-6.3.4-msom.bin", 57344,
             "3a70ec3b14a6f284418a8dac9c8ca4deefd513e125f3e5786d8c17f6cef0dff5"),
)

APP_NAMES = frozenset(app.name for app in KNOWN_APPS)


def find(platform_name: str, app_name: str) -> Optional[KnownApp]:
    for app in KNOWN_APPS:
        if app.platform == platform_name and app.name == app_name:
            return app
    return None


def fetch(app: KnownApp) -> bytes:
    from particle_py import assets

    return assets.fetch(app.path, app.sha256)
