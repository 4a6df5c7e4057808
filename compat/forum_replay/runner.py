"""Run one forum scenario: build the device state the thread implies, run the poster's commands
through our ``particle`` and ``dfu-util`` on the simulator, compare normalised output lines,
exit statuses, device memory and the final LED.

A scenario whose command, simulator feature or asset does not exist yet is *pending* (with the
reason), never passed. Commands run in-process by default (fast); ``subprocess=True`` runs each
one as its own Python process instead (what a user's shell does).
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import re
import shlex
import subprocess as subprocess_mod
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import normalise, standins
from .scenario import Scenario, Step

ROOT = Path(__file__).resolve().parents[2]
FORUM_DIR = ROOT / "compat" / "forum"
TRANSCRIPTS = FORUM_DIR / "transcripts"
SCENARIOS = FORUM_DIR / "scenarios"

# dfu-util versions posters had -> the personality we run (0.5 and 0.7 are not modelled).
DFU_UTIL_VERSIONS = {"0.5": "0.8", "0.7": "0.8", "0.8": "0.8", "0.9": "0.9", "0.10": "0.10", "0.11": "0.11"}
# Program names as posters typed them -> our command.
PROGRAMS = {"dfu-util": "dfu-util", "dfu-util-static": "dfu-util",
            "particle": "particle", "p": "particle", "spark": "particle"}
# `particle <group>` -> the module in particle_py/cli/particle that provides it.
PARTICLE_GROUPS = {"keys": "keys", "flash": "flash", "usb": "usb", "binary": "binary", "login": "auth",
                   "logout": "auth", "whoami": "auth", "device": "device", "identify": "identify",
                   "serial": "serial", "update": "update", "compile": "compile", "doctor": "doctor"}
# Redactions posters made of their device id, in commands: replaced by the simulated id.
_REDACTED_ID = re.compile(r"XXXYYYZZZDeviceID|\bDEVICE_ID\b|\{name\}|\bxxxx:xxxx\b|\{id\}|\b[0-9a-fA-F]\*{4,}[0-9a-fA-F]\b")
CLOUD_USER = "forum-user@example.com"
OTHER_OWNER = "someone-else@example.com"
STEP_TIMEOUT_S = 300


class Pending(Exception):
    """Something the scenario needs is not built yet."""


@dataclass
class Result:
    name: str
    status: str          # 'passed', 'failed', 'pending'
    detail: str = ""

    def line(self) -> str:
        mark = {"passed": "PASS", "failed": "FAIL", "pending": "PENDING"}[self.status]
        return f"{mark:7} {self.name}" + (f": {self.detail.splitlines()[0]}" if self.detail else "")


# --- preparing commands ----------------------------------------------------------------------
def program_of(token: str) -> Optional[str]:
    base = re.split(r"[\\/]", token)[-1]
    for ext in (".exe", ".js"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
    return PROGRAMS.get(base)


def split_command(command: str, device_id: Optional[str], work: Path) -> tuple[str, list[str]]:
    """(our program, argv without the program name) for a command as the poster typed it."""
    if device_id:
        command = _REDACTED_ID.sub(device_id, command)
    tokens = shlex.split(command.replace("\\", "/"), posix=True)
    if tokens and tokens[0] == "sudo":
        tokens = tokens[1:]
    if not tokens:
        raise ValueError(f"empty command {command!r}")
    program = program_of(tokens[0])
    if program is None:
        raise ValueError(f"{tokens[0]!r} is not a command particle-py provides")
    args = []
    for arg in tokens[1:]:
        # Absolute paths the poster used are re-rooted in the scenario's folder.
        if arg.startswith("/") and len(arg) > 1:
            arg = str(work / arg.lstrip("/"))
        args.append(arg)
    return program, args


def check_available(program: str, args: list[str]) -> None:
    """Pending unless our command exists."""
    if program == "dfu-util":
        _need_module("particle_py.cli.dfu_util.main", "our dfu-util (particle_py/cli/dfu_util/main.py) is not built yet")
        return
    group = next((a for a in args if not a.startswith("-")), None)
    if group is None:
        return
    module = PARTICLE_GROUPS.get(group)
    if module is None:
        raise Pending(f"`particle {group}` is not a particle-py command")
    from particle_py.cli.particle import main as particle_main
    if module not in particle_main.COMMAND_MODULES:
        raise Pending(f"`particle {group}` is not a particle-py command group yet (COMMAND_MODULES)")
    _need_module(f"particle_py.cli.particle.{module}", f"`particle {group}` is not built yet")


def _need_module(name: str, why: str) -> None:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):     # the command's own module is missing
            raise Pending(why) from None
        raise


# --- running commands ------------------------------------------------------------------------
def _dfu_util_main(argv, env):
    from particle_py.cli.dfu_util.main import main
    return main(["dfu-util"] + list(argv), stdout=sys.stdout, stderr=sys.stderr, environ=env)


def run_inprocess(program: str, args: list[str], env: dict, cwd: Path) -> tuple[int, str]:
    """Run in this process with stdout and stderr into one buffer (their order kept)."""
    buf = io.StringIO()
    saved_env, saved_cwd, saved_argv = dict(os.environ), os.getcwd(), sys.argv
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.argv = [program] + args
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf), \
                _stdin(io.StringIO("")):
            try:
                if program == "dfu-util":
                    code = _dfu_util_main(args, env)
                else:
                    from particle_py.cli.particle.main import main
                    code = main(args)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:          # a crash is a finding: show it as the command's output
        buf.write("\n[forum-replay: the command raised]\n" + traceback.format_exc())
        code = -1
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
    return (0 if code is None else int(code)), buf.getvalue()


@contextlib.contextmanager
def _stdin(stream):
    saved = sys.stdin
    sys.stdin = stream
    try:
        yield
    finally:
        sys.stdin = saved


_ENTRY = {"dfu-util": "from particle_py.cli.dfu_util.main import main\nargs = [\"dfu-util\"] + sys.argv[1:]",
          "particle": "from particle_py.cli.particle.main import main\nargs = sys.argv[1:]"}


def run_subprocess(program: str, args: list[str], env: dict, cwd: Path) -> tuple[int, str]:
    code = f"import sys\n{_ENTRY[program]}\nsys.exit(main(args))"
    env = dict(env, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    proc = subprocess_mod.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, stdin=subprocess_mod.DEVNULL,
                              stdout=subprocess_mod.PIPE, stderr=subprocess_mod.STDOUT, timeout=STEP_TIMEOUT_S)
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


# --- comparing -------------------------------------------------------------------------------
def compare(step: Step, code: int, output: str, width: Optional[int]) -> list[str]:
    """Problems with one step's result (empty = as expected)."""
    problems = []
    if step.exit == "nonzero":
        if code == 0:
            problems.append("exit status 0, expected nonzero")
    elif step.exit != "any" and code != int(step.exit):
        problems.append(f"exit status {code}, expected {step.exit}")
    actual = normalise.lines(output, width)
    position = 0
    for expect in step.expects:
        if expect.kind == "!":
            needle = normalise.line(expect.text)
            hits = [ln for ln in actual if needle in ln]
            if hits:
                problems.append(f"unwanted line: {hits[0]!r}")
            continue
        found = _find(expect, actual, position)
        if found is None:
            shown = expect.text if expect.kind == "~" else normalise.line(expect.text)
            problems.append(f"missing ({expect.kind}) {shown!r}"
                            + (f" after line {position}" if position else ""))
            break
        position = found + 1
    if problems:
        shown = "\n".join(f"    {ln}" for ln in actual[-60:])
        problems.append(f"our output (normalised, {len(actual)} lines):\n{shown}")
    return problems


def _find(expect, actual: list[str], start: int) -> Optional[int]:
    if expect.kind == "~":
        pattern = re.compile(expect.text)
        test = lambda ln: pattern.search(ln) is not None       # noqa: E731
    else:
        want = normalise.line(expect.text)
        test = (lambda ln: ln == want) if expect.kind == "|" else (lambda ln: ln.startswith(want))  # noqa: E731
    for i in range(start, len(actual)):
        if test(actual[i]):
            return i
    return None


# --- the simulated world ---------------------------------------------------------------------
def _sim(what: str):
    try:
        return importlib.import_module(f"particle_py.sim.{what}")
    except ModuleNotFoundError as exc:
        raise Pending(f"the simulator has no {what} module yet ({exc.name})") from None


def _first_device(sim_dir: Path):
    bus = _sim("bus").SimBus.load(sim_dir)
    for dev in bus.devices():
        if dev.unit == 0:
            return bus, dev
    raise AssertionError("the scenario's device 1 is not attached")


def _seed_firmware(sim_dir: Path, specs: list[str]) -> None:
    """What device 1 holds before the thread starts: Device OS, an app, its keys."""
    if not specs:
        return
    contents = _sim("contents")
    from particle_py import platforms
    bus, dev = _first_device(sim_dir)
    platform = platforms.by_name(dev.profile.platform)
    version = "1.5.2"
    for spec in specs:
        words = spec.split()
        if words[0] == "device-os":
            version = words[1] if len(words) > 1 else version
            for address, module in contents.device_os(platform, version):
                dev.memory(0).poke(address, module)
        elif words[0] == "user-app":
            # an optional address; by default where apps for the seeded Device OS are linked
            # (Gen3: the 128 KB slot before 3.1, the 256 KB part from 3.1 on)
            address = int(words[1], 0) if len(words) > 1 else \
                platforms.user_slots(platform, contents.module_version(version)).linked.address
            # built against the Device OS seeded above, as a real app is (its last system part)
            needs = (contents.SYSTEM_PART, max(len(platform.system_parts), 1), contents.module_version(version))
            dev.memory(0).poke(address, contents.build_module(platform, start=address, size=5324, seed=7,
                                                              deps=(needs,)))
        elif words[0] == "keys":
            _seed_keys(dev, platform, sim_dir)
        else:
            raise ValueError(f"firmware: unknown {words[0]!r} (device-os VERSION | user-app [ADDRESS] | keys)")
    bus.save()


def _seed_keys(dev, platform, sim_dir: Path) -> None:
    """A device key in its DCT slot and the simulated cloud's server key (needs ``cloud:``)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from particle_py.keys import server_blob
    protocol = platform.protocols[0]
    slot = platform.device_key[protocol]
    if slot.alg == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    dev.memory(slot.alt).poke(slot.address, der)
    server_slot = platform.server_key[protocol]
    server_der = sim_dir / "cloud" / f"server_{server_slot.alg}.pub.der"
    if not server_der.is_file():
        raise ValueError("firmware: keys needs the simulated cloud (cloud: owner)")
    dev.memory(server_slot.alt).poke(server_slot.address, server_blob.build(server_der.read_bytes(), server_slot))


def _device_os_env(sc: Scenario) -> dict:
    """`particle update` threads flash Particle's own Device OS files: the ones particle-cli's npm
    packages bundle, from the peer cache (scripts/install-peers), never downloaded."""
    if not any(" update" in f" {step.command}" for step in sc.steps):
        return {}
    peers = Path(os.environ.get("PARTICLE_PY_PEERS") or Path.home() / ".cache" / "particle-py-peers")
    folders = sorted(str(p) for p in peers.glob("particle-cli-*/node_modules/particle-cli/assets/updates"))
    if not folders:
        raise Pending(f"needs particle-cli 2.16.0 / 3.9.0 in the peer cache {peers} (scripts/install-peers "
                      "--npm): the Device OS files `particle update` flashes")
    return {"PARTICLE_PY_DEVICE_OS_FROM": os.pathsep.join(folders), "PARTICLE_PY_PEERS": str(peers)}


def _device_id(sim_dir: Path) -> Optional[str]:
    try:
        _bus, dev = _first_device(sim_dir)
    except AssertionError:
        return None
    return dev.profile.device_id


def _start_cloud(sim_dir: Path, home: Path, mode: str, device_id: Optional[str]):
    cloud_mod = _sim("cloud")
    # the devices' handshakes too, so `keys doctor` proves a new key as it does against a real cloud
    cloud = cloud_mod.start(sim_dir / "cloud" / "cloud.sqlite", handshakes=True)
    db = cloud.db
    db.ensure_server_keys()
    db.add_user(CLOUD_USER, "forum-password")
    token = db.issue_token(CLOUD_USER, None)
    if device_id and mode in ("owner", "other-owner"):
        db.add_device(device_id, owner=CLOUD_USER if mode == "owner" else OTHER_OWNER)
    config = home / ".particle"
    config.mkdir(parents=True, exist_ok=True)
    path = config / "particle.config.json"
    path.write_text(json.dumps({"access_token": token, "username": CLOUD_USER, "apiUrl": cloud.url,
                                "access_token_expires_at": "9999-12-31T23:59:59.999Z"}, indent=2))
    os.chmod(path, 0o600)
    return cloud


# particle-cli's npm package in the peer cache (scripts/install-peers): official files, never copied
# into the repository
PEERS = Path(os.environ.get("PARTICLE_PY_PEERS", Path.home() / ".cache" / "particle-py-peers"))
PEER_PACKAGES = "particle-cli-*/node_modules/particle-cli"     # every version installed, newest first


def _official_assets(spec: str) -> list[tuple[str, str, str]]:
    """[(what, repository path, sha256)] for ``needs-asset: PLATFORM APP`` or
    ``needs-asset: server-keys`` (both) / ``needs-asset: server-key tcp|udp``."""
    words = spec.split()
    if words and words[0] in ("server-keys", "server-key"):
        from particle_py.ops.keys import DEFAULT_SERVER_KEYS
        protocols = words[1:] or list(DEFAULT_SERVER_KEYS)
        unknown = [p for p in protocols if p not in DEFAULT_SERVER_KEYS]
        if unknown or (words[0] == "server-key" and len(words) != 2):
            raise ValueError(f"needs-asset: {spec!r}: server-keys, or server-key tcp|udp")
        return [(f"Particle's {p} server key", *DEFAULT_SERVER_KEYS[p]) for p in protocols]
    platform, _, app = spec.partition(" ")
    from particle_py.firmware import known_apps
    match = [a for a in known_apps.KNOWN_APPS if a.platform == platform and a.name == app.strip()]
    if not match:
        raise ValueError(f"needs-asset: no known app {spec!r} (PLATFORM APP, server-keys, server-key tcp|udp)")
    return [(f"the official {platform} {app.strip()} binary", match[0].path, match[0].sha256)]


def _asset_bytes(path: str, sha256: str) -> Optional[bytes]:
    """The file from the user's asset cache or particle-cli's npm package in the peer cache (both
    checked against the pin), or downloaded when FORUM_REPLAY_FETCH=1."""
    import hashlib
    from particle_py import assets
    candidates = [assets._cache_path(path, sha256)] + sorted(PEERS.glob(f"{PEER_PACKAGES}/{path}"), reverse=True)
    for candidate in candidates:
        try:
            data = candidate.read_bytes()
        except OSError:
            continue
        if hashlib.sha256(data).hexdigest() == sha256:
            return data
    if os.environ.get("FORUM_REPLAY_FETCH") == "1":
        try:
            return assets.fetch(path, sha256)
        except Exception:
            return None
    return None


def _asset_ready(spec: str, cache: Path) -> None:
    """Put an official asset into the scenario's cache; pending if it is nowhere to be had."""
    for what, path, sha256 in _official_assets(spec):
        data = _asset_bytes(path, sha256)
        if data is None:
            raise Pending(f"needs {what} ({path}, pinned SHA-256): not in the asset cache nor in the "
                          f"peer cache ({PEERS}, scripts/install-peers --npm); FORUM_REPLAY_FETCH=1 downloads it")
        target = cache / "particle-py" / "assets" / sha256[:16] / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _inside(work: Path, relative: str) -> Path:
    """``work / relative``, refusing paths that climb out of the scenario's folder."""
    path = (work / relative).resolve()
    if path != work.resolve() and work.resolve() not in path.parents:
        raise ValueError(f"{relative!r} leaves the scenario's folder")
    return path


def _holds(sim_dir: Path, directory: Path, alt: int, address: int, name: str) -> Optional[str]:
    try:
        want = (directory / name).read_bytes()
    except OSError as exc:
        return f"holds: {name}: {exc.strerror or exc} (the step did not leave that file)"
    _bus, dev = _first_device(sim_dir)
    got = dev.memory(alt).peek(address, len(want))
    if got == want:
        return None
    same = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), len(want))
    return (f"device alt {alt} at 0x{address:08x} does not hold {name} ({len(want)} bytes): "
            f"first difference at +{same}")


def _led(sim_dir: Path) -> str:
    boot = _sim("boot")
    from particle_py import platforms
    _bus, dev = _first_device(sim_dir)
    platform = platforms.by_name(dev.profile.platform)
    outcome = boot.boot(platform, lambda alt, addr, n: dev.memory(alt).peek(addr, n), dev.profile.device_id,
                        boot.open_cloud_view(sim_dir))
    return outcome.led + f" ({outcome.reason})"


# --- one scenario ----------------------------------------------------------------------------
def run(sc: Scenario, *, use_subprocess: bool = False, keep: Optional[Path] = None) -> Result:
    """One scenario's result; whatever goes wrong in it is that scenario's failure, never the run's."""
    try:
        return _run(sc, use_subprocess, keep)
    except Pending as exc:
        return Result(sc.name, "pending", str(exc))
    except KeyboardInterrupt:
        raise
    except Exception as exc:            # a broken scenario or a runner bug: report it, keep going
        return Result(sc.name, "failed", f"the scenario could not run: {type(exc).__name__}: {exc}\n"
                      + traceback.format_exc())


def _run(sc: Scenario, use_subprocess: bool, keep: Optional[Path]) -> Result:
    if not (TRANSCRIPTS / sc.get("transcript")).is_file():
        return Result(sc.name, "failed", f"transcript {sc.get('transcript')} is not in {TRANSCRIPTS}")
    version = DFU_UTIL_VERSIONS.get(sc.get("dfu-util", "0.11"))
    if version is None:
        return Result(sc.name, "failed", f"dfu-util version {sc.get('dfu-util')!r} is not one we map")
    with tempfile.TemporaryDirectory(prefix="forum-replay-") as tmp:
        base = Path(keep) / sc.name if keep else Path(tmp)
        sim_dir, home, work, cache = base / "sim", base / "home", base / "work", base / "cache"
        for folder in (sim_dir, home, work, cache):
            folder.mkdir(parents=True, exist_ok=True)
        # every command must exist before we spend time on the world
        device_probe = "0" * 24
        for step in sc.steps:
            for command in step.setup + [step.command]:
                try:
                    program, args = split_command(command, device_probe, work)
                except ValueError as exc:
                    return Result(sc.name, "failed", f"line {step.line_no}: {exc}")
                check_available(program, args)
        for spec in sc.all("needs-asset"):
            _asset_ready(spec, cache)
        state = _sim("state")
        devices = [d for d in sc.get("devices", "").split() if d != "none"]
        knobs = dict(kv.split("=", 1) for kv in sc.get("knobs", "").split() if kv)
        try:
            state.create_state(sim_dir, devices, knobs)
        except ValueError as exc:
            raise Pending(f"the simulator cannot build this state yet: {exc}") from None
        device_id = _device_id(sim_dir) if devices else None
        cloud = _start_cloud(sim_dir, home, sc.get("cloud"), device_id) if sc.get("cloud") else None
        try:
            _seed_firmware(sim_dir, sc.all("firmware"))
            return _run_steps(sc, use_subprocess, sim_dir, home, work, cache, device_id)
        finally:
            if cloud is not None:
                cloud.stop()


def _run_steps(sc: Scenario, use_subprocess: bool, sim_dir: Path, home: Path, work: Path, cache: Path,
               device_id: Optional[str]) -> Result:
    run_dir = _inside(work, sc.get("cwd", "."))
    run_dir.mkdir(parents=True, exist_ok=True)
    for spec in sc.all("file"):
        name, _, kind = spec.partition(" ")
        if device_id:
            name = name.replace("{id}", device_id)
        # a name starting with "/" is re-rooted in work/, like the commands' absolute paths
        target = _inside(work, name.lstrip("/") if name.startswith("/") else str(run_dir / name))
        standins.create(target.parent, target.name, kind)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "SYSTEMROOT", "LANG", "LC_ALL", "TMPDIR")}
    env.update(HOME=str(home), PARTICLE_PY_SIM=str(sim_dir),
               PARTICLE_PY_DFU_UTIL_VERSION=DFU_UTIL_VERSIONS[sc.get("dfu-util", "0.11")],
               XDG_CACHE_HOME=str(cache), PARTICLE_PY_ASSET_URL="http://127.0.0.1:9",
               NO_COLOR="1", TERM="dumb", PARTICLE_DISABLE_UPDATE="1")
    if sc.get("cloud"):
        env["PARTICLE_PY_CLOUD_HOSTS"] = f"@{sim_dir / 'cloud'}"    # where the simulated cloud answers devices
    env.update(kv.split("=", 1) for kv in sc.all("env"))
    env.update(_device_os_env(sc))
    width = int(sc.get("console-width", "0")) or None
    run_command = run_subprocess if use_subprocess else run_inprocess
    for number, step in enumerate(sc.steps, 1):
        for command in step.setup:
            program, args = split_command(command, device_id, work)
            code, output = run_command(program, args, env, run_dir)
            if code != 0:
                return Result(sc.name, "failed", f"setup `{command}` exited {code}:\n{output}")
        program, args = split_command(step.command, device_id, work)
        code, output = run_command(program, args, env, run_dir)
        problems = compare(step, code, output, width)
        for alt, address, name in step.holds:
            if device_id:
                name = name.replace("{id}", device_id)
            directory = work if name.startswith("/") else run_dir
            why = _holds(sim_dir, directory, alt, address, name.lstrip("/"))
            if why:
                problems.insert(0, why)
        if problems:
            return Result(sc.name, "failed", f"step {number} `{step.command}`: " + "\n".join(problems))
    want_led = sc.get("led")
    if want_led:
        got = _led(sim_dir)
        negate = want_led.startswith("not ")
        matches = got.startswith((want_led[4:] if negate else want_led) + " (")
        if matches == negate:
            return Result(sc.name, "failed", f"final LED: {got}, expected {want_led}")
    return Result(sc.name, "passed")


def discover(paths: Optional[list] = None) -> list[Path]:
    if not paths:
        return sorted(SCENARIOS.glob("*.scenario"))
    out = []
    for p in map(Path, paths):
        out.extend(sorted(p.glob("*.scenario")) if p.is_dir() else [p])
    return out
