"""The scenarios particle-cli 3.51.0 judges (tests/umockdev/cli351.py): one row per scenario.

A row names a device (platform and mode, made by ``particle_py.sim.devices.create``), the
``particle`` commands run on it in turn, and the written-down differences allowed between
3.51.0's output and ours (DIFFERENCES; docs/eras.md "particle-cli 3.51 judge" says why). A row
whose ``needs`` command particle-py does not have yet (``particle <words> --help`` fails) is
skipped with that reason: the commands other work adds become rows that run once they exist.

``{app}`` in a step is the stand-in user module for the row's platform (a file in the work folder);
``{id}`` is the device's id; ``wifi.json`` and ``unseen.json`` in the work folder hold Wi-Fi
credentials (WIFI_CREDENTIALS, UNSEEN_CREDENTIALS).
"""
from __future__ import annotations

from dataclasses import dataclass, field

# The devices of the judge, as issue #24 names them; Gen2 (Photon), Gen3 Wi-Fi and cellular,
# Gen4 Wi-Fi and Wi-Fi + cellular.
PLATFORMS = ("photon", "argon", "boron", "p2", "msom")
GEN3_UP = ("argon", "boron", "p2", "msom")
WIFI_GEN3_UP = ("argon", "p2", "msom")
# a network the simulated radio broadcasts (particle_py/sim/wifi.py), and one nobody does
WIFI_CREDENTIALS = {"network": "particle-sim", "security": "WPA2_PSK", "password": "particle-sim-pass",
                    "hidden": False}
UNSEEN_CREDENTIALS = dict(WIFI_CREDENTIALS, network="judge-net")


@dataclass(frozen=True)
class Difference:
    """One written-down difference: ``pattern`` (a regex, multiline) in the given side's text
    becomes ``replacement`` before the two are compared."""
    why: str
    pattern: str
    replacement: str = ""
    side: str = "ours"                 # "ours", "theirs" or "both"
    # "stdout", "stderr", "any" (either), "status" (exit statuses not compared) or "streams" (the
    # two streams compared as one text: which of them a line goes to is not compared)
    stream: str = "stdout"


# name -> the rewrites that make the two tools' texts comparable where particle-py chose to differ
DIFFERENCES: dict[str, tuple] = {
    # 3.51 asks a cellular device below Device OS 6 for its IMEI and ICCID over serial, which
    # only listening mode answers: in normal mode it fails the whole command. Ours prints what
    # it read over USB and says how to get the rest (exit 0).
    "identify-cellular-below-6": (
        Difference("3.51 fails", r"^Could not identify device: Could not get device info, ensure the device is "
                   r"in listening mode: Serial timed out$", "<identify, no IMEI/ICCID>", side="theirs"),
        Difference("ours tells id and version", r"^Your device id is [0-9a-f]{24}\nYour system firmware version is "
                   r"\S+$", "<identify, no IMEI/ICCID>"),
        Difference("ours says how to get the rest", r"^Could not get the IMEI and ICCID, ensure the device is in "
                   r"listening mode \(.*\)\nDevice OS before 6\.0 .*\n", "", stream="stderr"),
        Difference("exit 1 against 0", "", stream="status"),
    ),
    # particle-py says so when it switches a normal-mode device to DFU mode for a DFU command;
    # 3.51 switches silently
    "says-dfu-switch": (
        Difference("ours announces the switch", r"^Switching device to DFU mode\n"),
    ),
    # a Gen2 device below Device OS 2: 3.51 cannot switch it and tells the user to press the
    # buttons (exit 1); particle-py switches it itself (the DFU_MODE request every Device OS
    # answers) and runs the command, so the device ends in DFU mode
    "gen2-switches-itself": (
        Difference("3.51 asks for the buttons", r"(?s)^!!! The device needs to be in DFU mode for this command\..*"
                   r"Put the device in DFU mode and try again\n", "<DFU mode>\n", side="theirs"),
        Difference("ours switches and runs", r"(?s)^Switching device to DFU mode\n.*", "<DFU mode>\n"),
        Difference("exit 1 against 0", "", stream="status"),
    ),
    # `update` with no device named: particle-py keeps the 1.x/2.x output shape (and names the
    # release it chose, its plan, how each module was proven); 3.51 prints its one shape. The same
    # for flash --local when Device OS goes first. Compared: the files flashed, in order.
    "update-lines": (
        Difference("only the files each tool flashed, in order",
                   r"^(?!Flashing [^ \n]+\.bin$)[^\n]*(?:\n|$)", "", side="both"),
    ),
    # flash --local: 3.51 names the device before it switches to DFU mode, in its own words;
    # particle-py switches, then names it as its flash --usb does
    "local-flash-lines": (
        Difference("3.51's order", r"^Flashing (\w+) ([0-9a-f]{24})\nSwitching device to dfu mode$",
                   r"<switch>, <\1 \2>", side="theirs"),
        Difference("ours", r"^Switching device to DFU mode\nFlashing (\w+) device ([0-9a-f]{24})$",
                   r"<switch>, <\1 \2>"),
    ),
    # particle-py writes errors to stderr (3.51: stdout, then an empty line)
    "errors-on-stderr": (
        Difference("the stream an error goes to", "", stream="streams"),
        Difference("3.51's empty line after an error", r"\n\n\Z", "\n", side="theirs"),
    ),
    # an answer that is not what was asked for (env before Device OS 6.4) is an error: exit 1
    "not-done-exits-1": (
        Difference("exit 0 against 1", "", stream="status"),
    ),
    # send-request answered with an error: particle-py names the device on stdout and writes the
    # error to stderr, exit 1 (3.51: the error on stdout, exit 0)
    "request-error-exits-1": (
        Difference("the stream an error goes to", "", stream="streams"),
        Difference("exit 0 against 1", "", stream="status"),
    ),
    # help: 3.51's banner, usage and closing line; the commands, options and examples listed are
    # particle-py's own, and so is the version line; on stdout (3.51: stderr)
    "help-own-commands": (
        Difference("the version that answers", r"^Version .*$", "Version <version>", side="both", stream="any"),
        Difference("the lists", r"(?s)(?<=^Help:  particle help <command>\n).*(?=^For more information)",
                   "<commands, options, examples>\n", side="both", stream="any"),
        Difference("the stream help goes to", "", stream="streams"),
    ),
    # particle-py keeps the server key it replaces (a file in the folder and a copy in its data
    # folder) and says where
    "server-key-backup": (
        Difference("ours names the backup", r"^Saved the previous server key to .*\n"),
    ),
}


@dataclass(frozen=True)
class Case:
    name: str
    platform: str
    mode: str                          # "normal" or "dfu"
    steps: tuple                       # tuple of argv tuples, run in turn on the same device
    needs: tuple = ()                  # our command words that must exist for the row to run
    differences: tuple = ()            # keys of DIFFERENCES
    note: str = ""
    same_device: bool = True           # compare the devices afterwards (LED, flash bytes)
    cloud: bool = False                # both tools logged in to a simulated cloud that knows the device
    device_os: str = "default"         # what the device holds (devices.Recipe.device_os)
    app_device_os: str = ""            # the Device OS {app} is built for ("" = the device's own)
    ready: tuple = ()                  # (argv, text): the row runs once our output of argv shows text
    tags: tuple = field(default=())

    @property
    def id(self) -> str:
        return f"{self.name}-{self.platform}-{self.mode}"


def _rows() -> list[Case]:
    rows: list[Case] = []

    def add(name, platforms, steps, modes=("normal",), **kw):
        for platform in platforms:
            for mode in modes:
                rows.append(Case(name, platform, mode, tuple(tuple(s) for s in steps), **kw))

    # --- commands particle-py has today ---------------------------------------------------
    add("usb-list", PLATFORMS, [["usb", "list"]], modes=("normal", "dfu"))
    add("identify", ("photon", "argon", "p2"), [["identify"]])
    add("identify", ("boron", "msom"), [["identify"]], differences=("identify-cellular-below-6",),
        note="cellular, Device OS below 6, normal mode")
    add("start-listening", PLATFORMS, [["usb", "start-listening"]],
        note="the device ends in listening mode, blinking blue")
    add("listen-alias", ("argon",), [["usb", "listen"]], needs=("usb", "listen"))
    add("reset", PLATFORMS, [["usb", "reset"]])
    add("dfu", PLATFORMS, [["usb", "dfu"], ["usb", "list"]], note="the device ends in DFU mode, blinking yellow")
    add("flash-usb", PLATFORMS, [["flash", "--usb", "{app}"]], modes=("dfu",))
    add("update-latest", ("p2", "msom"), [["update"]], modes=("normal", "dfu"), cloud=True, device_os="5.0.0",
        differences=("update-lines",), note="no --target: the latest release the cloud names")
    add("flash-local", ("p2", "msom"), [["flash", "--local", "{app}"]], cloud=True, device_os="5.0.0",
        differences=("local-flash-lines",),
        note="an app for the device's own Device OS: nothing else goes")
    add("flash-local-needs-device-os", ("p2", "msom"), [["flash", "--local", "{app}"]], cloud=True,
        device_os="5.0.0", app_device_os="6.3.4", differences=("update-lines",),
        note="the app needs 6.3.4: that release goes first, then the app")
    add("reset-dfu", PLATFORMS, [["usb", "reset"]], modes=("dfu",))
    add("keys-address", PLATFORMS, [["keys", "address"]], modes=("dfu",))
    add("keys-address", GEN3_UP, [["keys", "address"]], differences=("says-dfu-switch",))
    add("keys-address", ("photon",), [["keys", "address"]], differences=("gen2-switches-itself",),
        same_device=False, note="Device OS below 2: ours ends in DFU mode, 3.51 leaves it as it was")
    add("keys-server", PLATFORMS, [["keys", "server"], ["keys", "address"]], modes=("dfu",),
        differences=("server-key-backup",))

    # --- commands other work is adding (rows run once `particle <cmd> --help` works) ------
    add("stop-listening", PLATFORMS, [["usb", "start-listening"], ["usb", "stop-listening"]],
        needs=("usb", "stop-listening"))
    add("safe-mode", PLATFORMS, [["usb", "safe-mode"]], needs=("usb", "safe-mode"),
        note="real hardware ends in safe mode: breathing magenta, the app not run")
    add("setup-done", GEN3_UP, [["usb", "setup-done"]], needs=("usb", "setup-done"))
    add("setup-done-reset", GEN3_UP, [["usb", "setup-done", "--reset"]], needs=("usb", "setup-done"))
    add("cloud-status", PLATFORMS, [["usb", "cloud-status", "{id}"]], needs=("usb", "cloud-status"))
    add("network-interfaces", GEN3_UP, [["usb", "network-interfaces"]], needs=("usb", "network-interfaces"))
    add("env", ("p2", "msom"), [["usb", "env"]], needs=("usb", "env"),
        differences=("errors-on-stderr", "not-done-exits-1"), note="Device OS below 6.4: no env request")
    add("wifi-list", WIFI_GEN3_UP, [["wifi", "list"]], needs=("wifi", "list"))
    add("wifi-current", WIFI_GEN3_UP, [["wifi", "current"]], needs=("wifi", "current"),
        differences=("errors-on-stderr",), note="no network joined")
    add("wifi-clear", WIFI_GEN3_UP, [["wifi", "clear"], ["wifi", "list"]], needs=("wifi", "clear"))
    add("wifi-gen2", ("photon",), [["wifi", "list"]], needs=("wifi", "list"), differences=("errors-on-stderr",),
        note="a Gen2 device: 3.51 points to `particle serial wifi`")
    add("env-6.4", ("p2", "msom"), [["usb", "env"]], needs=("usb", "env"), device_os="6.4.0",
        note="Device OS 6.4: the env request is answered")
    add("send-request", PLATFORMS, [["usb", "send-request", "hello"]], needs=("usb", "send-request"),
        differences=("request-error-exits-1",), note="Tinker has no handler for application requests")
    add("wifi-add-before-6.2", WIFI_GEN3_UP, [["wifi", "add", "--file", "wifi.json"]], needs=("wifi", "add"),
        differences=("errors-on-stderr",), note="the credentials request comes with Device OS 6.2")
    add("wifi-add", WIFI_GEN3_UP, [["wifi", "add", "--file", "wifi.json"], ["wifi", "list"]], needs=("wifi", "add"),
        device_os="6.2.0")
    add("wifi-join", WIFI_GEN3_UP, [["wifi", "join", "--file", "wifi.json"], ["wifi", "list"], ["wifi", "current"]],
        needs=("wifi", "join"), note="a network the simulated radio sees")
    add("wifi-join-unseen", ("argon",), [["wifi", "join", "--file", "unseen.json"]], needs=("wifi", "join"),
        differences=("errors-on-stderr",), note="nobody broadcasts it: the join fails")
    add("wifi-remove", WIFI_GEN3_UP, [["wifi", "add", "--file", "wifi.json"], ["wifi", "remove", "--ssid", "particle-sim"],
                                      ["wifi", "list"]], needs=("wifi", "remove"), device_os="6.2.0")
    add("wifi-remove-unknown", ("p2",), [["wifi", "remove", "--ssid", "not-known"]], needs=("wifi", "remove"),
        note="Device OS removes a network it does not know without a word")
    add("list", ("argon",), [["list"]], needs=("list",), same_device=False, cloud=True)
    # particle-py has a `help` of its own; the row runs once it prints particle-cli's banner
    add("help", ("argon",), [["help"]], needs=("help",), same_device=False, differences=("help-own-commands",),
        ready=(("help",), "Welcome to the Particle Command Line Interface!"))
    return rows


CASES = _rows()
BY_ID = {case.id: case for case in CASES}
