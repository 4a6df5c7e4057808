"""A mutation fuzzer over every parser of outside input, and the targets the corpus replay uses.

A *target* is one parser (or a whole front end) with seeds: valid inputs of its kind. The
fuzzer mutates seeds (bit flips, interesting bytes and integers, cuts, repeats, splices) and
runs each input in a worker process. An input *passes* when the target returns or raises our
error (ParticlePyError, or the documented exception of a low-level parser); any other exception
is a *crash*; an input that runs longer than the target's time bound is a *hang*. Crashing and
hanging inputs are saved under tests/fuzz/corpus/<target>/ and replayed by
tests/fuzz/test_corpus.py.

Used by scripts/fuzz (``python tests/fuzz/mutate.py --seconds N``).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CORPUS = HERE / "corpus"
for p in (str(ROOT), str(HERE.parent), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)


@dataclass
class Target:
    name: str
    seeds: Callable[[], list]            # bytes inputs
    run: Callable[[bytes], None]         # returns, or raises an allowed exception
    allowed: tuple = ()                  # exception types that are a refusal, not a crash
    bound_s: float = 5.0                 # longer than this is a hang
    text: bool = False                   # mutate as text (layout strings, argv)
    weight: int = 1


def _perr():
    from particle_py.errors import ParticlePyError
    return ParticlePyError


# --- seeds ----------------------------------------------------------------------------------------

def _modules() -> list:
    from helpers.modules import build_module
    from particle_py.firmware.module import ModuleFunction as F
    return [build_module("photon", size=1000), build_module("argon", size=1200, seed=3),
            build_module("p2", size=1100, seed=5), build_module("photon", function=F.SYSTEM_PART, index=1,
                                                              size=1000, deps=()),
            build_module("boron", size=1200, bad_crc=True)]


def _keys() -> list:
    from cryptography.hazmat.primitives import serialization
    from particle_py.keys import formats
    ec, rsa = formats.generate("ec"), formats.generate("rsa")
    return [formats.device_der(ec), formats.device_der(rsa), formats.private_pem(ec), formats.public_pem(rsa),
            formats.public_der(ec),
            rsa.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())]


def _dfu_files() -> list:
    from particle_py.dfu import dfuse_file, suffix
    img = dfuse_file.build([(0, [(0x080A0000, bytes(range(200)))]), (1, [(0x1000, b"\x01" * 40)])],
                           vendor=0x2B04, product=0xD006)
    return [img, bytes(range(100)) + suffix.make_suffix(bytes(range(100)), 0x2B04, 0xD006)]


def _layouts() -> list:
    from particle_py import platforms
    out = []
    for name in platforms.names():
        out += [s.encode() for s in platforms.by_name(name).dfu_layouts]
    out += [b"@Option Bytes  /0x1FFFC000/01*016 e", b"@Device Feature/0xFFFF0000/01*004 e"]
    return sorted(set(out))


def _descriptors() -> list:
    return [bytes([9, 0x21, 0x0B, 0xFF, 0x00, 0x00, 0x10, 0x1A, 0x01]),
            bytes([9, 4, 0, 0, 0, 0xFE, 1, 2, 4]) + bytes([9, 0x21, 0x07, 0xE8, 0x03, 0x00, 0x04, 0x10, 0x01]),
            bytes([7, 0x21, 0x03, 0xFF, 0, 0, 4]), bytes([0, 0, 0, 0, 0, 2]),      # status-like
            bytes([0, 0, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),                # service reply
            b"3a0035000f47343432313031", b"../../../escaped"]


def _cloud_replies() -> list:
    return [json.dumps(v).encode() for v in (
        {"access_token": "a" * 40, "token_type": "bearer", "expires_in": 7776000},
        {"ok": True, "id": "e00fce68a1b2c3d4e5f60718"}, {"username": "alice@example.com"},
        {"expires_at": "2999-01-01T00:00:00Z", "client": "particle"},
        {"error": "invalid_grant", "error_description": "User credentials are invalid"},
        {"ok": False, "errors": ["device not found"]}, {"error": "mfa_required", "mfa_token": "x" * 24})] + [
        b"", b"[]", b"Success!", b"<html>portal</html>"]


def _configs() -> list:
    return [json.dumps(v).encode() for v in (
        {"apiUrl": "https://api.particle.io", "access_token": "a" * 40, "username": "a@b.c"},
        {"apiUrl": "http://127.0.0.1:8080"}, {"apiUrl": "staging", "proxyUrl": "http://proxy:3128"},
        {"flashWarningShownOn": 1}, {"name": "local"})] + [b"{}", b"\xef\xbb\xbf{}"]


DFU_UTIL_ARGV = [["-l"], ["-a", "0", "-s", "0x080A0000", "-D", "app.bin"],
                 ["-d", "2b04:d006", "-a", "0", "-s", "0x080A0000:leave", "-D", "app.bin"],
                 ["-a", "1", "-s", "34:612", "-U", "out.bin"], ["-D", "app.dfu"], ["-e"], ["-V"],
                 ["-a", "0", "-s", "0x080A0000:force:unprotect", "-D", "app.bin"], ["-t", "64", "-D", "app.bin"]]
PARTICLE_ARGV = [["flash", "--usb", "app.bin"], ["binary", "inspect", "app.bin"], ["keys", "address"],
                 ["keys", "save", "k"], ["keys", "new", "k2", "--protocol", "udp"], ["keys", "load", "k2.der"],
                 ["keys", "server", "k2.pub.pem", "o.der", "--deviceType", "argon"], ["usb", "list"],
                 ["keys", "protocol"], ["identify"], ["whoami"], ["flash", "--usb", "--force", "app.bin"]]


def _argv_seeds(table) -> list:
    return [json.dumps(a).encode() for a in table]


# --- running ------------------------------------------------------------------------------------------

def _parse_module(data: bytes) -> None:
    from particle_py.firmware.classify import classify
    from particle_py.firmware.describe import describe
    from particle_py.firmware.module import parse
    module = parse(data)
    if module.prefix is not None:
        describe(module, "fuzz.bin")
    classify(data)


def _parse_key(data: bytes) -> None:
    from particle_py.keys import formats
    from particle_py.platforms import by_name
    try:
        formats.parse_key(data, "fuzz.der")
    finally:
        formats.parse_device_slot(data, "ec")
        formats.parse_device_slot(data, "rsa")
        from particle_py.keys import server_blob
        for name in ("photon", "argon"):
            p = by_name(name)
            for proto, slot in p.server_key.items():
                server_blob.parse_address(data[:slot.size].ljust(slot.size, b"\xff"), slot, proto)


def _parse_dfu_file(data: bytes) -> None:
    from particle_py.dfu import dfuse_file, suffix
    loaded = suffix.load(data)
    dfuse_file.parse(loaded.payload if hasattr(loaded, "payload") else data)


def _parse_layout(data: bytes) -> None:
    from particle_py.ops.memory import MemoryMap
    MemoryMap.from_layout_string(data.decode("utf-8", "replace"), "The fuzz device")


def _parse_descriptor(data: bytes) -> None:
    from particle_py.dfu import protocol as p
    from particle_py.control import exchange as control
    from particle_py.ops.discovery import _clean_serial
    raw = p.find_functional(data)
    if raw is not None:
        p.FunctionalDescriptor.parse(raw)
    if len(data) >= 6:
        p.parse_status(data[:6])
    try:
        control.parse_reply(data)
    except ValueError:
        pass
    _clean_serial(data.decode("utf-16-le", "replace"))


def _cloud_reply(data: bytes) -> None:
    from particle_py.cloud.api import ApiClient, MfaRequired

    class Replay(ApiClient):
        """The client's own checks of an answer, fed this body (the network left out)."""
        status = 200

        def exchange(self, method, path, form=None, *, auth="bearer"):
            if not 200 <= self.status < 300:
                raise self._http_error(self.status, self._json(data))
            return self.status, self.api_url + path, data

    for status in (200, 201, 400, 401, 403, 404, 500):
        api = Replay("https://api.example.com", "t" * 40)
        api.status = status
        for call in (lambda: api.login("a", "b"), api.whoami, api.require_fresh_token,
                     lambda: api.provision_key("e00fce68a1b2c3d4e5f60718", "k", "ecc"),
                     lambda: api.claim_device("e00fce68a1b2c3d4e5f60718"),
                     lambda: api.device_info("e00fce68a1b2c3d4e5f60718"), api.revoke_current_token):
            try:
                call()
            except (_perr(), MfaRequired) as err:
                text = getattr(err, "message", "") + (getattr(err, "hint", "") or "")
                if "\x1b" in text:
                    raise AssertionError("an escape sequence reached an error message") from None


_WORLD: dict = {}


def _world() -> Path:
    """A simulator folder, a home and a working folder for the front-end targets (one per worker)."""
    if "root" not in _WORLD:
        from helpers.modules import build_module
        from particle_py.sim.state import create_state
        root = Path(tempfile.mkdtemp(prefix="fuzz-world-"))
        create_state(root / "sim", ["photon:real=1", "dfu11"], {})
        (root / "work").mkdir()
        (root / "home" / ".particle").mkdir(parents=True)
        (root / "home" / ".particle" / "particle.config.json").write_text(json.dumps(
            {"flashWarningShownOn": 1, "apiUrl": "http://127.0.0.1:9", "access_token": "0" * 40}))
        (root / "work" / "app.bin").write_bytes(build_module("photon", size=3000))
        _WORLD["root"] = root
    return _WORLD["root"]


def _argv(data: bytes) -> list:
    try:
        value = json.loads(data.decode("utf-8"))
    except ValueError:
        value = data.decode("utf-8", "replace").split()
    if not isinstance(value, list):
        value = [str(value)]
    argv = [str(a) for a in value][:12]
    # what waits by design (a device to appear, a serial port, a prompt) is left out
    return [a for a in argv if a not in ("-w", "--wait", "serial", "monitor", "login", "-")]


def _dfu_util(data: bytes) -> None:
    from test_fuzz_front_ends import run_dfu_util
    code, out, err = run_dfu_util(_world(), _argv(data))
    if "Traceback" in out + err or not isinstance(code, int):
        raise AssertionError("dfu-util: a traceback or no exit status")


def _particle(data: bytes) -> None:
    from test_fuzz_front_ends import run_particle
    code, out, err = run_particle(_world(), _argv(data))
    if "Traceback" in out + err or not isinstance(code, int):
        raise AssertionError("particle: a traceback or no exit status")


def _config(data: bytes) -> None:
    from particle_py.cloud.config import Settings
    root = Path(tempfile.mkdtemp(prefix="fuzz-config-"))
    keep = os.environ.get("HOME")
    try:
        (root / ".particle").mkdir()
        (root / ".particle" / "profile.json").write_bytes(data[:64] if data[:1] == b"{" else b"{}")
        (root / ".particle" / "particle.config.json").write_bytes(data)
        os.environ["HOME"] = str(root)
        s = Settings()
        s.api_url, s.access_token, s.username, s.proxy_url, s.token_expires_at
    finally:
        if keep is not None:
            os.environ["HOME"] = keep
        import shutil
        shutil.rmtree(root, ignore_errors=True)


def _update_targets():
    import update_targets           # particle update's release files, zips and download answers
    return update_targets


def _serial_replies() -> list:
    return [b"Your device id is 3a0035000f47343432313031\r\n",
            b"Device ID: e00fce68a1b2c3d4e5f60718\r\nIMEI: 352753090123456\r\nICCID: 89014103211118510720\r\n",
            b"Your device MAC address is\r\n6c:0b:84:aa:bb:cc\r\n", b"system firmware version: 2.3.1\r\n",
            b'{"p":6,"m":[{"s":262144,"l":"m","vc":30,"vv":30,"f":"s","n":"1","v":207,"d":[]}]}\r\n',
            b"SSID: Security 0=unsecured, 1=WEP, 2=WPA, 3=WPA2: Password: \r\n    Particle <3 you!\r\n"]


class _Replay:
    """A raw port (the backend seam) that plays ``data`` back in reads of ``chunk`` bytes, each
    taking ``spent`` seconds, then silence; ``endless`` plays it again and again (a flood)."""

    def __init__(self, data: bytes, chunk: int, spent: float, endless: bool):
        self.data, self.chunk, self.spent, self.endless, self.pos = data or b"x", chunk, spent, endless, 0

    def read(self, wait_s):
        if self.pos >= len(self.data):
            if not self.endless:
                return b"", wait_s
            self.pos = 0
        out = self.data[self.pos:self.pos + self.chunk]
        self.pos += len(out)
        return out, self.spent

    def write(self, data):
        pass

    def close(self):
        pass


def _serial_line(data: bytes) -> None:
    """The serial line reader: every listening-mode exchange (one batch, then its parser) and the
    Wi-Fi dialogue's marker search, over what the device sends, once and as an endless flood."""
    from particle_py.serial_link import listening, transport
    from particle_py.ops.serial_ops import DONE_MARKERS, PROMPTS
    chunk = 1 + (data[0] if data else 0) % 64 * 64       # reads of 1..4033 bytes
    body = data[1:]
    markers = [p for p, _ in PROMPTS] + list(DONE_MARKERS)
    for endless in (False, True):
        # a byte-at-a-time flood is bounded by time (each read a millisecond), bigger reads by bytes
        spent = 0.001 if endless and chunk == 1 else 0.0
        for command, parser in (("i", listening.parse_identify), ("m", listening.parse_mac),
                                ("v", listening.parse_version), ("s", listening.parse_describe)):
            port = transport.Port("/dev/fuzz", _Replay(body, chunk, spent, endless))
            try:
                parser(listening.ask("/dev/fuzz", command, port=port))
            except (listening.ReplyError, _perr()):
                pass
        port = transport.Port("/dev/fuzz", _Replay(body, chunk, spent, endless))
        seen = bytearray()
        try:
            for _ in range(len(markers) + 2):
                _text, marker = port.read_until(markers, 5.0, seen)
                if marker is None:
                    break
                if len(seen) > transport.MAX_REPLY_BYTES + chunk:
                    raise AssertionError("read_until kept more than its byte bound")
        except transport.Flooded:
            pass


EXTRA: dict = {}      # more targets (the fuzzer's own tests add one that crashes and one that hangs)


def targets() -> dict:
    def perr():
        return (_perr(),)
    return {**EXTRA, **{t.name: t for t in [
        Target("module-file", _modules, _parse_module, perr()),
        Target("key-file", _keys, _parse_key, perr()),
        Target("dfu-file", _dfu_files, _parse_dfu_file, perr()),
        Target("layout-string", _layouts, _parse_layout, perr(), text=True),
        Target("usb-descriptor", _descriptors, _parse_descriptor, perr()),
        Target("cloud-reply", _cloud_replies, _cloud_reply, perr()),
        Target("config-file", _configs, _config, perr()),
        Target("release-file", _update_targets().release_file_seeds, _update_targets().release_file, perr()),
        Target("zip-file", _update_targets().zip_seeds, _update_targets().zip_file, perr()),
        Target("device-os-answer", _update_targets().answer_seeds, _update_targets().device_os_answer, perr(),
               bound_s=10.0),


        Target("serial-line", _serial_replies, _serial_line, perr(), bound_s=10.0),
        Target("dfu-util-argv", lambda: _argv_seeds(DFU_UTIL_ARGV), _dfu_util, (), bound_s=20.0, text=True),
        Target("particle-argv", lambda: _argv_seeds(PARTICLE_ARGV), _particle, (), bound_s=20.0, text=True),
    ]}}


# --- mutations ------------------------------------------------------------------------------------------

INTERESTING_BYTES = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x2A, 0x2F, 0x2E, 0x5B, 0x7B, 0x22, 0x1B]
INTERESTING_INTS = [0, 1, -1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
                    0xFFFFFFFF]
TEXT_TOKENS = ["0", "-1", "99999999", "0x", "*", ",", "/", "@", "K", "M", "B", "g", "e", ":", "leave", "force",
               "--", "-a", "-s", "-D", "-U", "--usb", "--force", "[", "]", "{", "}", "\"", "\\u0000", "\x1b[2J",
               "../", "%s", "\u202e", " ", "4294967296", "0x08000000", "app.bin", "/dev/zero"]


def mutate(data: bytes, rng: random.Random, pool: list, text: bool) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 5))):
        choice = rng.randrange(10)
        pos = rng.randrange(len(buf) + 1)
        if choice == 0 and buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif choice == 1 and buf:
            buf[rng.randrange(len(buf))] = rng.choice(INTERESTING_BYTES)
        elif choice == 2 and len(buf) >= 4:
            i = rng.randrange(len(buf) - 3)
            value = rng.choice(INTERESTING_INTS) & 0xFFFFFFFF
            buf[i:i + 4] = value.to_bytes(4, rng.choice(("little", "big")))
        elif choice == 3 and buf:
            del buf[pos:pos + rng.randrange(1, 64)]
        elif choice == 4:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        elif choice == 5 and buf:
            start = rng.randrange(len(buf))
            chunk = buf[start:start + rng.randrange(1, 128)]
            buf[pos:pos] = chunk * rng.randrange(1, 20)
        elif choice == 6:
            del buf[rng.randrange(len(buf) + 1):]
        elif choice == 7 and pool:
            other = rng.choice(pool)
            cut = rng.randrange(len(other) + 1)
            buf = buf[:pos] + bytearray(other[cut:])
        elif choice == 8 or text:
            buf[pos:pos] = rng.choice(TEXT_TOKENS).encode()
        else:
            buf[pos:pos] = bytes([rng.choice(INTERESTING_BYTES)]) * rng.randrange(1, 300)
    return bytes(buf[:1 << 20])


# --- the worker and the watchdog --------------------------------------------------------------------------

def _worker(conn) -> None:
    import contextlib
    import io
    import traceback
    table = targets()
    sink = io.StringIO()
    while True:
        msg = conn.recv()
        if msg is None:
            return
        name, data = msg
        t = table[name]
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                t.run(data)
            conn.send(("ok", ""))
        except t.allowed:
            conn.send(("ok", ""))
        except BaseException as exc:          # noqa: BLE001 - any other exception is the finding
            conn.send(("crash", "".join(traceback.format_exception(exc))[-2000:]))
        sink.seek(0)
        sink.truncate()


@dataclass
class Stats:
    inputs: int = 0
    crashes: int = 0
    hangs: int = 0
    found: list = field(default_factory=list)


class Runner:
    def __init__(self):
        import multiprocessing
        self.mp = multiprocessing.get_context("fork" if os.name != "nt" else "spawn")
        self._start()

    def _start(self):
        self.parent, child = self.mp.Pipe()
        self.proc = self.mp.Process(target=_worker, args=(child,), daemon=True)
        self.proc.start()

    def run(self, name: str, data: bytes, bound: float) -> tuple[str, str]:
        self.parent.send((name, data))
        if self.parent.poll(bound):
            return self.parent.recv()
        self.proc.kill()
        self.proc.join()
        self._start()
        return "hang", f"no answer within {bound} s"

    def close(self):
        try:
            self.parent.send(None)
        except OSError:
            pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()


def save(name: str, data: bytes, kind: str, detail: str) -> Path:
    folder = CORPUS / name
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:16]
    path = folder / f"{kind}-{digest}.bin"
    path.write_bytes(data)
    (folder / f"{kind}-{digest}.txt").write_text(detail.strip().splitlines()[-1][:300] + "\n")
    return path


def fuzz(seconds: float, seed: int, only=None, stream=sys.stdout) -> dict:
    rng = random.Random(seed)
    table = targets()
    names = [n for n in table if not only or n in only]
    pools = {n: table[n].seeds() for n in names}
    stats = {n: Stats() for n in names}
    runner = Runner()
    deadline = time.monotonic() + seconds
    try:
        # every seed once, then mutations, round robin (front ends are slow: they get fewer turns)
        for n in names:
            for s in pools[n]:
                _one(runner, table[n], s, stats[n])
        turn = 0
        while time.monotonic() < deadline:
            n = names[turn % len(names)]
            turn += 1
            t = table[n]
            batch = 3 if n.endswith("argv") else 40
            for _ in range(batch):
                data = mutate(rng.choice(pools[n]), rng, pools[n], t.text)
                if _one(runner, t, data, stats[n]) and len(pools[n]) < 400 and rng.random() < 0.05:
                    pools[n].append(data)       # keep some passing mutants as new starting points
                if time.monotonic() >= deadline:
                    break
    finally:
        runner.close()
    return stats


def _one(runner: Runner, t: Target, data: bytes, st: Stats) -> bool:
    st.inputs += 1
    verdict, detail = runner.run(t.name, data, t.bound_s)
    if verdict == "ok":
        return True
    if verdict == "crash":
        st.crashes += 1
    else:
        st.hangs += 1
    st.found.append(save(t.name, data, verdict, detail))
    return False


def main(argv=None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="fuzz-mutate")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--target", action="append")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time())
    stats = fuzz(args.seconds, seed, args.target)
    print(f"mutation fuzzer (seed {seed}, {args.seconds:.0f} s):")
    print(f"  {'target':16} {'inputs':>9} {'crashes':>8} {'hangs':>6}")
    for name, st in stats.items():
        print(f"  {name:16} {st.inputs:9} {st.crashes:8} {st.hangs:6}")
    total = Stats(sum(s.inputs for s in stats.values()), sum(s.crashes for s in stats.values()),
                  sum(s.hangs for s in stats.values()))
    print(f"  {'total':16} {total.inputs:9} {total.crashes:8} {total.hangs:6}")
    for st in stats.values():
        for path in st.found:
            print(f"  saved {path.relative_to(ROOT)}: {path.with_suffix('.txt').read_text().strip()}")
    return 1 if total.crashes or total.hangs else 0


if __name__ == "__main__":
    sys.exit(main())
