import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.cli import run  # noqa: E402,F401  (the shared fixtures)
from helpers.home import isolated_home  # noqa: E402,F401
from helpers.serial_profiles import CURRENT_FW, DEVICE_IDS, OLD_FW, PLATFORMS, profile  # noqa: F401,E402
from helpers.simulator import Sim, sim_fixture  # noqa: E402


class SerialSim(Sim):
    def seed(self, index=0, version="2.3.1", app=True, parts=None):
        """Stand-in Device OS (all parts, or the 1-based ``parts``) and an app into device ``index``."""
        from particle_py.platforms import by_name
        from particle_py.sim import contents

        bus = self.bus()
        dev = bus.devices()[index]
        platform = by_name(dev.profile.platform)
        for number, (address, module) in enumerate(contents.device_os(platform, version), 1):
            if parts is None or number in parts:
                dev.memory(0).poke(address, module)
        if app and platform.system_parts:
            app = contents.user_app(platform, version)      # at the address it is linked for
            dev.memory(0).poke(int.from_bytes(app[platform.module_info_offset:][:4], "little"), app)
        bus.save()

    def wifi(self, index=0):
        from particle_py.sim.serial import wifi_credentials
        return wifi_credentials(self.dir, self.devices()[index].unit)

    def faults(self, index=0, **faults):
        from particle_py.sim.serial import set_faults
        set_faults(self.dir, self.devices()[index].unit, **faults)

    def script(self, events, index=0):
        from particle_py.sim.serial import script_app_output
        script_app_output(self.dir, self.devices()[index].unit, events)


sim = sim_fixture(SerialSim)
