#!/usr/bin/env python3
"""Differential tier: the real dfu-util and ours, side by side, both over the real libusb.

Every case runs twice on fresh, identical simulated devices under ``scripts/umockdev-run``:
once with ``/usr/bin/dfu-util`` and once with our dfu-util (personality 0.11). The runs are
compared on stdout, stderr, exit status, the files left in the working folder (uploads),
the final device memory (the state folder) and the sequence of requests on the wire
(control transfers with their data, SET_INTERFACE, USB reset). Every difference is reported.

Run as a script for the CI summary line (``differential: N scenarios, D differences``):
    .venv/bin/python tests/umockdev/differential.py [-k SUBSTRING] [-j JOBS] [-v]
The pytest module ``test_differential.py`` runs the same cases one by one.

Both sides get compat-replay's two normalisations and nothing else (docs/compat-replay.md):
the banner's bug-report address, and progress-bar repaints whose fill did not change (dfu-util
rate-limits repaints with ``time(NULL)``, so those appear only when a second boundary passes).
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UMOCKDEV_RUN = ROOT / "scripts" / "umockdev-run"
REAL_DFU_UTIL = os.environ.get("PARTICLE_PY_REAL_DFU_UTIL", "/usr/bin/dfu-util")
RUN_TIMEOUT_S = 120

sys.path.insert(0, str(ROOT))


def our_dfu_util() -> list[str]:
    """Our dfu-util as a user runs it: the console script next to this Python."""
    return [str(Path(sys.executable).parent / "dfu-util")]


def our_env() -> dict[str, str]:
    env = {"PARTICLE_PY_DFU_UTIL_VERSION": "0.11"}
    # same libusb as the real dfu-util, so `-v` prints the same version and re-enumeration is seen
    env["PARTICLE_PY_LIBUSB"] = os.environ.get("PARTICLE_PY_DIFF_LIBUSB", "system")
    return env


# --- cases ---------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    profiles: list[str]
    args: list[str]
    knobs: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    source: str = "added"


def payload(size: int, seed: int = 1) -> bytes:
    """Deterministic bytes that are not 0xFF-heavy, so erased and written pages differ."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += zlib.crc32(struct.pack("<II", seed, counter)).to_bytes(4, "little")
        counter += 1
    return bytes(out[:size])


def dfu_suffix(data: bytes, vid: int = 0xFFFF, pid: int = 0xFFFF, bcd_device: int = 0xFFFF,
               bcd_dfu: int = 0x0100, bad_crc: bool = False) -> bytes:
    body = data + struct.pack("<HHHH3sB", bcd_device, pid, vid, bcd_dfu, b"UFD", 16)
    crc = zlib.crc32(body) ^ 0xFFFFFFFF   # dfu-util's CRC has no final inversion
    if bad_crc:
        crc ^= 0x5A5A5A5A
    return body + struct.pack("<I", crc)


def dfuse_file(targets: list[tuple[int, list[tuple[int, bytes]]]], vid=0x2B04, pid=0xD006,
               name: str | None = None) -> bytes:
    """A DfuSe (.dfu) file: targets = [(alt, [(address, data), ...]), ...], with its suffix."""
    body = b""
    for alt, elements in targets:
        elems = b"".join(struct.pack("<II", addr, len(d)) + d for addr, d in elements)
        tname = (name or "").encode()[:254].ljust(255, b"\0")
        body += struct.pack("<6sBI255sII", b"Target", alt, 1 if name else 0, tname, len(elems),
                            len(elements)) + elems
    prefix = struct.pack("<5sBIB", b"DfuSe", 1, 11 + len(body), len(targets))
    return dfu_suffix(prefix + body, vid, pid, 0xFFFF, 0x011A)


def added_cases() -> list[Case]:
    from particle_py.platforms import PLATFORMS

    fw = {"fw5000.bin": payload(5000, 5), "fw10k.bin": payload(10240, 10)}
    cases: list[Case] = []

    def add(name, profiles, args, knobs=None, files=None):
        cases.append(Case(name, profiles.split(","), args.split() if isinstance(args, str) else args,
                          dict(knobs or {}), dict(fw if files is None else files)))

    # -- options and modifiers ----------------------------------------------------------
    add("opt_version", "photon", "-V")
    add("opt_help", "photon", "-h")
    add("opt_unknown", "photon", "-x")
    add("opt_missing_arg", "photon", "-a")
    add("opt_list_verbose", "photon", "-v -l")
    add("opt_list_vv", "photon,dfu11", "-v -v -l")
    add("opt_list_d", "photon,stm32", "-l -d 0483:df11")
    add("opt_list_devnum", "photon,photon", "-l -n 6")
    add("opt_list_path", "photon,stm32", "-l -p 1-2")
    add("opt_list_serial", "photon,stm32", "-l -S 205F36825242")
    add("opt_devnum_dl", "photon,photon", "-n 6 -a 0 -s 0x08020000 -D fw5000.bin")
    add("opt_devnum_none", "photon", "-n 9 -a 0 -s 0x08020000 -D fw5000.bin")
    add("opt_cfg", "photon", "-c 1 -a 0 -s 0x08020000 -D fw5000.bin")
    add("opt_cfg_bad", "photon", "-c 2 -a 0 -s 0x08020000 -D fw5000.bin")
    add("opt_intf", "photon", "-i 0 -a 1 -s 0 -D fw5000.bin")
    add("opt_intf_bad", "photon", "-i 3 -a 0 -s 0x08020000 -D fw5000.bin")
    add("opt_alt_name_int", "photon", ["-a", "@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg",
                                        "-s", "0x08020000", "-D", "fw5000.bin"])
    add("opt_alt_name_nomatch", "photon", ["-a", "Nope", "-s", "0x08020000", "-D", "fw5000.bin"])
    add("opt_serial_dl", "photon", "-S 00000000010C -a 0 -s 0x08020000 -D fw5000.bin")
    add("opt_serial_pair", "photon", "-S 00000000010C,00000000010C -a 0 -s 0x08020000 -D fw5000.bin")
    add("opt_d_wild", "photon", "-d 2b04: -a 0 -s 0x08020000 -D fw5000.bin")
    add("opt_d_star", "photon", "-d *:d006 -a 0 -s 0x08020000 -D fw5000.bin")
    add("opt_d_bad", "photon", "-d zz:qq -a 0 -s 0x08020000 -D fw5000.bin")
    add("opt_path_bad", "photon", "-p 9-9 -a 0 -s 0x08020000 -D fw5000.bin")
    add("opt_t_2048", "photon", "-t 2048 -a 0 -s 0x08020000 -D fw10k.bin")
    add("opt_t_odd", "photon", "-t 1000 -a 0 -s 0x08020000 -D fw5000.bin")
    add("opt_t_small", "dfu11", "-t 64 -D fw5000.bin")
    add("opt_t_ul_odd", "photon", "-t 999 -a 0 -s 0x08000000:5000 -U up.bin")
    add("opt_Z_dfuse", "photon", "-a 0 -s 0x08000000 -Z 3000 -U up.bin")
    add("opt_Z_dfu11_small", "dfu11", "-Z 100 -U up.bin")
    add("opt_R_dfuse", "photon", "-R -a 0 -s 0x08020000 -D fw5000.bin")
    add("opt_R_upload", "photon", "-R -a 0 -s 0x08000000:1024 -U up.bin")
    add("opt_R_after_leave", "photon", "-R -a 0 -s 0x08020000:leave -D fw5000.bin")   # reset of a device gone
    add("opt_E_runtime_list", "runtime", "-E 0 -e")
    add("opt_w_dfu11", "dfu11", "-w -D fw5000.bin")
    add("opt_both_UD", "photon", "-a 0 -s 0x08020000 -U up.bin -D fw5000.bin")
    add("opt_D_missing", "photon", "-a 0 -s 0x08020000 -D nosuch.bin")
    add("opt_no_action", "photon", "-a 0")
    add("mod_force_ro", "photon", "-a 0 -s 0x08000000:force -D fw5000.bin")
    add("mod_leave_dct", "photon", "-a 1 -s 0:leave -D fw5000.bin")
    add("mod_leave_ul_len", "photon", "-a 0 -s 0x08020000:2048:leave -U up.bin")
    add("mod_willreset_photon", "photon", "-a 0 -s 0x08020000:will-reset -D fw5000.bin")
    add("mod_unknown", "photon", "-a 0 -s 0x08020000:bogus -D fw5000.bin")
    add("mod_mass_erase_photon", "photon", "-a 0 -s :mass-erase:force")
    add("mod_unprotect_only", "stm32", "-a 0 -s :unprotect:force")
    add("mod_len_zero", "photon", "-a 0 -s 0x08000000:0 -U up.bin")
    add("mod_len_hex", "photon", "-a 0 -s 0x08000000:0x800 -U up.bin")

    # -- every fault knob, on more than one device kind ------------------------------------
    knob_values = {
        "FAKE_OPEN_FAIL": ["-3", "-1", "-4"],
        "FAKE_START_STATE": ["10", "5", "9", "4"],
        "FAKE_START_STATUS": ["10", "3"],
        "FAKE_WRITE_FAIL_STATUS": ["3", "8"],
        "FAKE_ERASE_FAIL_STATUS": ["4"],
        "FAKE_NO_DNBUSY": ["1"],
        "FAKE_DNLOAD_ERR": ["-9", "-1"],
        "FAKE_UPLOAD_ERR": ["-9", "-1"],
        "FAKE_TSIZE": ["0", "1024", "100", "64"],
        "FAKE_LEAVE_ERR": ["-1", "-4"],
        "FAKE_LEAVE_STATE": ["5", "2"],
        "FAKE_UNPLUG_AFTER": ["3", "12"],
        "FAKE_STALL_REQUEST": ["3", "1", "2"],
        "FAKE_POLL_TIMEOUT": ["5"],
        "FAKE_BUSY_POLLS": ["2"],
        "FAKE_BUSY_STALLS": ["2", "4"],
        "FAKE_STALL_AFTER": ["20"],
        "FAKE_STATUS_AFTER": ["3@20", "4@6"],
        "FAKE_SECOND_DEVICE_AFTER": ["10"],
    }
    commands = {
        "photon": ("-a 0 -s 0x08020000:leave -D fw10k.bin", "-a 0 -s 0x08000000:4096 -U up.bin"),
        "stm32": ("-a 0 -s 0x08004000:leave -D fw5000.bin", "-a 0 -s 0x08000000:2048 -U up.bin"),
        "dfu11": ("-D fw5000.bin", "-U up.bin"),
    }
    for knob, values in knob_values.items():
        short = knob.lower().replace("fake_", "")
        # the first value on every device kind, the others on the Photon only
        for profile, (dl, ul) in commands.items():
            add(f"knob_{short}_{values[0]}_{profile}_dl", profile, dl, {knob: values[0]})
            if knob in ("FAKE_UPLOAD_ERR", "FAKE_TSIZE"):
                add(f"knob_{short}_{values[0]}_{profile}_ul", profile, ul, {knob: values[0]})
        for value in values[1:]:
            add(f"knob_{short}_{value}_photon_dl", "photon", commands["photon"][0], {knob: value})
    add("knob_open_fail_list_multi", "photon,stm32", "-l", {"FAKE_OPEN_FAIL": "-3"})
    # libusb waits out dfu-util's own 5 s timeout in real time here: one case each is enough
    add("knob_timeout_request_3_dfu11_dl", "dfu11", "-D fw5000.bin", {"FAKE_TIMEOUT_REQUEST": "3"})
    add("knob_timeout_after_20_dfu11_dl", "dfu11", "-D fw5000.bin", {"FAKE_TIMEOUT_AFTER": "20"})
    # re-enumeration knobs: a run-time device that detaches (the bridge's clock is the wall clock)
    add("knob_reenum_new_port_runtime", "runtime", "-E 0 -D fw5000.bin", {"FAKE_REENUM_NEW_PORT": "1"})
    add("knob_reenum_delay_runtime_wait", "runtime", "-E 2 -D fw5000.bin", {"FAKE_REENUM_DELAY_MS": "300"})
    add("knob_reenum_delay_runtime_lost", "runtime", "-E 0 -D fw5000.bin", {"FAKE_REENUM_DELAY_MS": "3000"})
    add("knob_reenum_new_port_photon_leave", "photon", "-a 0 -s 0x08020000:leave -D fw5000.bin",
        {"FAKE_REENUM_NEW_PORT": "1"})

    # -- every Particle platform, in DFU mode -------------------------------------------
    for platform in PLATFORMS:
        vidpid = platform.dfu_vid_pid
        add(f"platform_{platform.name}_list", platform.name, "-l")
        if platform.user_part is not None:
            region = platform.user_part
            add(f"platform_{platform.name}_user_dl_leave", platform.name,
                f"-d {vidpid} -a {region.alt} -s 0x{region.address:08x}:leave -D fw10k.bin")
        for proto, slot in sorted(platform.device_key.items())[:1]:
            add(f"platform_{platform.name}_key_{proto}_ul", platform.name,
                f"-d {vidpid} -a {slot.alt} -s {slot.address}:{slot.size} -U key.der", files={})
            if platform.name in ("photon", "electron", "argon", "p2"):
                add(f"platform_{platform.name}_key_{proto}_dl", platform.name,
                    f"-d {vidpid} -a {slot.alt} -i 0 -s {slot.address}:leave -D key.der",
                    files={"key.der": payload(min(slot.size, 608), 34)})

    # -- odd sizes and alignments ---------------------------------------------------------
    for size in (1, 3, 4095, 4097, 16385, 65537):
        files = {f"f{size}.bin": payload(size, size)}
        add(f"size_{size}_dfuse_dl", "photon", f"-a 0 -s 0x08020000 -D f{size}.bin", files=files)
        add(f"size_{size}_dfu11_dl", "dfu11", f"-D f{size}.bin", files=files)
        if size in (1, 4097, 16385):
            add(f"size_{size}_dfuse_ul", "photon", f"-a 0 -s 0x08000000:{size} -U up.bin", files={})
    for address in ("0x08020001", "0x08003fff", "0x0800bffe", "0x0801fff0", "0x080dffff", "0x080ff000"):
        add(f"align_{address}_dl", "photon", f"-a 0 -s {address} -D fw5000.bin")
        add(f"align_{address}_ul", "photon", f"-a 0 -s {address}:5000 -U up.bin", files={})
    add("align_dct_odd", "photon", "-a 1 -s 35 -D fw5000.bin")
    add("align_dct_end", "photon", "-a 1 -s 16380 -D fw5000.bin")
    add("align_stm32_page_cross", "stm32", "-a 0 -s 0x08003ff0 -D fw5000.bin")

    # -- .dfu files -------------------------------------------------------------------------
    one = payload(3000, 71)
    dfu_files = {
        "one_elem.dfu": dfuse_file([(0, [(0x08020000, one)])]),
        "two_elems.dfu": dfuse_file([(0, [(0x08020000, one), (0x08040000, payload(5001, 72))])]),
        "two_targets.dfu": dfuse_file([(0, [(0x08020000, one)]), (1, [(0x00000022, payload(608, 73))])],
                                      name="ST..."),
        "odd_elem.dfu": dfuse_file([(0, [(0x08020003, payload(4097, 74))])]),
        "wrong_ids.dfu": dfuse_file([(0, [(0x08020000, one)])], vid=0x1234, pid=0x5678),
        "bad_crc.dfu": dfuse_file([(0, [(0x08020000, one)])])[:-4] + b"\0\0\0\0",
        "stm32.dfu": dfuse_file([(0, [(0x08004000, one)])], vid=0x0483, pid=0xDF11),
        "empty_target.dfu": dfuse_file([(0, [])]),
        "plain_suffix.bin": dfu_suffix(payload(4000, 75), 0x1209, 0x0001, 0x0100),
        "plain_suffix_wrong.bin": dfu_suffix(payload(4000, 75), 0x1111, 0x2222),
        "plain_badcrc.bin": dfu_suffix(payload(4000, 75), bad_crc=True),
    }
    for name in ("one_elem", "two_elems", "two_targets", "odd_elem", "wrong_ids", "bad_crc", "empty_target"):
        add(f"dfufile_{name}", "photon", f"-D {name}.dfu", files=dfu_files)
        add(f"dfufile_{name}_a0", "photon", f"-a 0 -D {name}.dfu", files=dfu_files)
    add("dfufile_stm32", "stm32", "-a 0 -D stm32.dfu", files=dfu_files)
    add("dfufile_on_dfu11", "dfu11", "-D one_elem.dfu", files=dfu_files)
    add("dfufile_leave", "photon", "-a 0 -s :leave -D one_elem.dfu", files=dfu_files)
    add("suffix_plain_ok", "dfu11", "-D plain_suffix.bin", files=dfu_files)
    add("suffix_plain_wrong", "dfu11", "-D plain_suffix_wrong.bin", files=dfu_files)
    add("suffix_plain_badcrc", "dfu11", "-D plain_badcrc.bin", files=dfu_files)
    add("suffix_on_dfuse", "photon", "-a 0 -s 0x08020000 -D plain_suffix.bin", files=dfu_files)

    cases += dfu11_end_cases()

    # -- sequences of more than one device ---------------------------------------------------
    add("multi_ambiguous", "photon,stm32", "-a 0 -s 0x08020000 -D fw5000.bin")
    add("multi_pick_d", "photon,stm32", "-d 0483:df11 -a 0 -s 0x08004000 -D fw5000.bin")
    add("multi_runtime_dfu11", "runtime,dfu11", "-d 1209:0001 -D fw5000.bin")
    return cases


def dfu11_end_cases() -> list[Case]:
    """The ends of plain DFU 1.1 transfers (issue 15): the last blocks of an upload or download,
    transfer sizes that differ from what the device does, and what the device says after the
    zero-length DNLOAD. The dfu11 profile: wTransferSize 1024, 3000 bytes to upload,
    bitManifestationTolerant; dfu11nt the same without it (dfuMANIFEST-WAIT-RESET)."""
    files = {"fw3072.bin": payload(3072, 30), "fw3000.bin": payload(3000, 31), "fw1024.bin": payload(1024, 32),
             "empty.bin": b"", "fw5000.bin": payload(5000, 5),
             "sfx3072.bin": dfu_suffix(payload(3072, 33), 0x1209, 0x0001, 0x0100),
             "sfx3000.bin": dfu_suffix(payload(3000, 34), 0x1209, 0x0001, 0x0100),
             "sfxany1024.bin": dfu_suffix(payload(1024, 35))}
    cases: list[Case] = []

    def add(name, profile, args, knobs=None):
        cases.append(Case(f"dfu11-ends_{name}", profile.split(","), args.split(), dict(knobs or {}), dict(files)))

    # uploads: where the device's content ends, against the transfer size and -Z
    add("ul_short_final", "dfu11", "-U up.bin")
    add("ul_exact_zlp", "dfu11", "-U up.bin", {"FAKE_IMAGE_SIZE": "3072"})
    add("ul_exact_zlp_v", "dfu11", "-v -U up.bin", {"FAKE_IMAGE_SIZE": "3072"})
    add("ul_one_block_zlp", "dfu11", "-U up.bin", {"FAKE_IMAGE_SIZE": "1024"})
    add("ul_empty", "dfu11", "-U up.bin", {"FAKE_IMAGE_SIZE": "0"})
    add("ul_empty_Z", "dfu11", "-Z 1024 -U up.bin", {"FAKE_IMAGE_SIZE": "0"})
    add("ul_one_byte", "dfu11", "-U up.bin", {"FAKE_IMAGE_SIZE": "1"})
    add("ul_Z_equal_exact", "dfu11", "-Z 3072 -U up.bin", {"FAKE_IMAGE_SIZE": "3072"})
    add("ul_Z_smaller", "dfu11", "-Z 2000 -U up.bin")
    add("ul_Z_smaller_block", "dfu11", "-Z 1024 -U up.bin")
    add("ul_Z_larger", "dfu11", "-Z 5000 -U up.bin")
    add("ul_Z_larger_v", "dfu11", "-v -Z 5000 -U up.bin")
    add("ul_Z_one_more", "dfu11", "-Z 3001 -U up.bin")
    add("ul_short_mid", "dfu11", "-U up.bin", {"FAKE_UPLOAD_SHORT": "100@1"})
    add("ul_short_mid_Z", "dfu11", "-Z 3000 -U up.bin", {"FAKE_UPLOAD_SHORT": "100@1"})
    add("ul_zlp_first", "dfu11", "-U up.bin", {"FAKE_UPLOAD_SHORT": "0@0"})
    add("ul_zlp_mid", "dfu11", "-U up.bin", {"FAKE_UPLOAD_SHORT": "0@2"})
    add("ul_overflow_first", "dfu11", "-U up.bin", {"FAKE_UPLOAD_ERR_AT": "-8@0"})
    add("ul_overflow_mid", "dfu11", "-U up.bin", {"FAKE_UPLOAD_ERR_AT": "-8@2"})
    add("ul_overflow_mid_Z", "dfu11", "-Z 3000 -U up.bin", {"FAKE_UPLOAD_ERR_AT": "-8@2"})
    add("ul_overflow_mid_v", "dfu11", "-v -U up.bin", {"FAKE_UPLOAD_ERR_AT": "-8@1"})
    add("ul_stall_mid", "dfu11", "-U up.bin", {"FAKE_UPLOAD_ERR_AT": "-9@1"})
    add("ul_io_last", "dfu11", "-U up.bin", {"FAKE_UPLOAD_ERR_AT": "-1@3", "FAKE_IMAGE_SIZE": "3072"})
    add("ul_t_smaller", "dfu11", "-t 512 -U up.bin")
    add("ul_t_larger", "dfu11", "-t 2048 -U up.bin")
    add("ul_t_larger_capped", "dfu11", "-t 2048 -U up.bin", {"FAKE_UPLOAD_MAX": "1024"})
    add("ul_t_odd", "dfu11", "-t 1000 -U up.bin")
    add("ul_t_limited", "dfu11", "-t 8192 -U up.bin", {"FAKE_IMAGE_SIZE": "9000"})
    add("ul_t_adjusted", "dfu11", "-t 16 -U up.bin")
    add("ul_tsize_small", "dfu11", "-U up.bin", {"FAKE_TSIZE": "100"})
    add("ul_tsize_big_capped", "dfu11", "-U up.bin", {"FAKE_TSIZE": "2048", "FAKE_UPLOAD_MAX": "1000"})
    add("ul_R", "dfu11", "-R -U up.bin")
    add("ul_R_reenumerates", "dfu11", "-R -U up.bin", {"FAKE_RESET_REENUMERATES": "1"})
    add("ul_R_error", "dfu11", "-R -U up.bin", {"FAKE_UPLOAD_ERR_AT": "-9@1"})
    add("ul_nt", "dfu11nt", "-Z 3000 -U up.bin")
    add("ul_dfuse_option", "dfu11", "-s 0:3000 -U up.bin")        # the DfuSe path on a plain device
    add("ul_runtime_Z", "runtime", "-E 0 -Z 3000 -U up.bin")      # detach, then the plain upload

    # downloads: the last data block, the zero-length one, and the status after it
    add("dl_exact_zlp", "dfu11", "-D fw3072.bin")
    add("dl_exact_zlp_v", "dfu11", "-v -D fw3072.bin")
    add("dl_exact_zlp_vv", "dfu11", "-v -v -D fw3072.bin")
    add("dl_one_block", "dfu11", "-D fw1024.bin")
    add("dl_short_final", "dfu11", "-D fw3000.bin")
    add("dl_empty", "dfu11", "-D empty.bin")
    add("dl_suffix_exact", "dfu11", "-D sfx3072.bin")
    add("dl_suffix_short", "dfu11", "-D sfx3000.bin")
    add("dl_suffix_any_one_block", "dfu11", "-D sfxany1024.bin")
    add("dl_t_smaller", "dfu11", "-t 512 -D fw3072.bin")
    add("dl_t_larger", "dfu11", "-t 2048 -D fw3072.bin")
    add("dl_t_odd", "dfu11", "-t 1000 -D fw3000.bin")
    add("dl_t_limited", "dfu11", "-t 8192 -D fw5000.bin")
    add("dl_tsize_0", "dfu11", "-D fw3072.bin", {"FAKE_TSIZE": "0"})
    add("dl_tsize_0_t", "dfu11", "-t 1000 -D fw3072.bin", {"FAKE_TSIZE": "0"})
    add("dl_nt_exact", "dfu11nt", "-D fw3072.bin")
    add("dl_nt_short", "dfu11nt", "-D fw3000.bin")
    add("dl_nt_R", "dfu11nt", "-R -D fw3072.bin")
    add("dl_nt_reenumerates", "dfu11nt", "-D fw3072.bin", {"FAKE_RESET_REENUMERATES": "1"})
    add("dl_R_exact", "dfu11", "-R -D fw3072.bin")
    add("dl_R_reenumerates", "dfu11", "-R -D fw3000.bin", {"FAKE_RESET_REENUMERATES": "1"})
    add("dl_err_last_block", "dfu11", "-D fw3072.bin", {"FAKE_DNLOAD_ERR_AT": "-9@2"})
    add("dl_err_last_block_R", "dfu11", "-R -D fw3072.bin", {"FAKE_DNLOAD_ERR_AT": "-9@2"})
    add("dl_err_zlp_stall", "dfu11", "-D fw3072.bin", {"FAKE_DNLOAD_ERR_AT": "-9@3"})
    add("dl_err_zlp_io", "dfu11", "-D fw3000.bin", {"FAKE_DNLOAD_ERR_AT": "-1@3"})
    add("dl_err_zlp_R", "dfu11", "-R -D fw3000.bin", {"FAKE_DNLOAD_ERR_AT": "-9@3"})
    add("dl_manifest_gone", "dfu11", "-D fw3072.bin", {"FAKE_MANIFEST_ERR": "-4"})
    add("dl_manifest_io", "dfu11", "-D fw3000.bin", {"FAKE_MANIFEST_ERR": "-1"})
    add("dl_manifest_stall", "dfu11", "-D fw3000.bin", {"FAKE_MANIFEST_ERR": "-9"})
    add("dl_manifest_gone_R", "dfu11", "-R -D fw3000.bin", {"FAKE_MANIFEST_ERR": "-4"})
    add("dl_manifest_fails", "dfu11", "-D fw3072.bin", {"FAKE_MANIFEST_STATUS": "7"})
    add("dl_manifest_fails_R", "dfu11", "-R -D fw3072.bin", {"FAKE_MANIFEST_STATUS": "7"})
    add("dl_manifest_fails_nt", "dfu11nt", "-D fw3000.bin", {"FAKE_MANIFEST_STATUS": "10"})
    add("dl_manifest_short", "dfu11", "-D fw3072.bin", {"FAKE_MANIFEST_SHORT": "3"})
    add("dl_manifest_short_nt", "dfu11nt", "-D fw3000.bin", {"FAKE_MANIFEST_SHORT": "5"})
    add("dl_status_fail_last", "dfu11", "-D fw3072.bin", {"FAKE_STATUS_AFTER": "3@14"})
    add("dl_runtime_R_exact", "runtime", "-E 0 -R -D fw3072.bin")
    return cases


SCENARIO_FILES = [ROOT / "compat" / "dfu-util" / "scenarios.md"]


def compat_cases() -> list[Case]:
    """The scenarios of compat/, through the replay's own parser and input-file recipes."""
    from compat.replay import inputs, notation

    cases = []
    for path in SCENARIO_FILES:
        for scenario in notation.parse_file(path.read_text(encoding="utf-8"), str(path)):
            if scenario.error or not scenario.argv:
                continue
            files = {}
            for word in scenario.argv[1:]:
                make = inputs.recipe_for(word) if not Path(word).is_absolute() and ".." not in word else None
                if make is not None:
                    files[word] = make()
            knobs = {k: v for k, v in scenario.knobs.items()}
            cases.append(Case(f"compat_{scenario.name}", list(scenario.profiles), list(scenario.argv[1:]),
                              knobs, files, source="compat"))
    return cases


def all_cases() -> list[Case]:
    return compat_cases() + added_cases()


# --- running and comparing ---------------------------------------------------------------


@dataclass
class Outcome:
    stdout: str
    stderr: str
    status: int
    files: dict[str, bytes]
    memory: dict[str, bytes]
    wire: list[str]


def normalise(stdout: str) -> str:
    """compat-replay's two normalisations (docs/compat-replay.md), nothing else: the banner's
    bug-report address, and progress repaints whose fill did not change (wall-clock repaints)."""
    from compat.replay import notation

    segments = notation.normalise_banner(notation.collapse_repaints([(notation.STDOUT, stdout)]))
    return "".join(t for _, t in segments)


def _wire(path: Path) -> list[str]:
    out = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        op = entry["op"]
        if op == "control":
            text = ("control %02x %02x wValue=%04x wIndex=%04x wLength=%d data=%s" % (
                entry["bmRequestType"], entry["bRequest"], entry["wValue"], entry["wIndex"], entry["wLength"],
                entry.get("data", "")))
            if "error" in entry:
                text += " -> error %d" % entry["error"]
            out.append(text)
        elif op == "setinterface":
            out.append("set_interface intf=%d alt=%d" % (entry["intf"], entry["alt"]))
        elif op in ("reset", "attach", "detach"):
            out.append(f"{op} {entry['dev']}")
    return out


def _snapshot(folder: Path, skip: set[str] = frozenset()) -> dict[str, bytes]:
    out = {}
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            rel = str(path.relative_to(folder))
            if path.is_file() and rel not in skip and not rel.endswith(".lock"):
                out[rel] = path.read_bytes()
    return out


def _device_state(state: Path) -> dict[str, bytes]:
    """What the devices hold and are at the end: flash images, and per device its profile,
    place on the bus and DFU state (state.json without clocks and counters)."""
    out = {k: v for k, v in _snapshot(state).items() if k.startswith("unit") and k.endswith(".bin")}
    path = state / "state.json"
    if path.exists():
        data = json.loads(path.read_text())
        for n, dev in enumerate(data.get("devices", [])):
            summary = {k: dev.get(k) for k in ("spec", "unit", "ports", "devnum", "state")}
            out[f"device {n}"] = json.dumps(summary, sort_keys=True).encode()
    return out


def run_case(case: Case, tool: str, keep: Path | None = None) -> Outcome:
    base = Path(tempfile.mkdtemp(prefix=f"diff-{tool}-", dir=keep))
    try:
        work, state, wire, bindir = base / "work", base / "state", base / "wire.jsonl", base / "bin"
        work.mkdir()
        bindir.mkdir()
        # both are run as a user runs them, `dfu-util` found on PATH (getopt messages print argv[0])
        (bindir / "dfu-util").symlink_to(REAL_DFU_UTIL if tool == "real" else our_dfu_util()[0])
        for name, data in case.files.items():
            (work / name).write_bytes(data)
        cmd = [str(UMOCKDEV_RUN), "--state", str(state), "--log", str(wire)]
        cmd += ["--profile", ",".join(case.profiles)]
        for knob, value in case.knobs.items():
            cmd += ["--fault", f"{knob}={value}"]
        env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}")
        env.pop("PARTICLE_PY_SIM", None)
        cmd += ["--", "dfu-util"] + case.args
        if tool == "ours":
            env.update(our_env())
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, timeout=RUN_TIMEOUT_S)
        inputs = set(case.files)
        files = {k: v for k, v in _snapshot(work).items() if k not in inputs or v != case.files[k]}
        return Outcome(normalise(proc.stdout.decode("utf-8", "replace")),
                       proc.stderr.decode("utf-8", "replace"), proc.returncode,
                       files, _device_state(state), _wire(wire))
    finally:
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)


def _text_diff(a: str, b: str, label: str) -> str:
    lines = difflib.unified_diff(a.splitlines(), b.splitlines(), f"real {label}", f"ours {label}",
                                 lineterm="", n=1)
    return "\n".join(list(lines)[:40])


def compare(real: Outcome, ours: Outcome) -> list[str]:
    """Every difference, as readable text; empty when the two runs match."""
    diffs = []
    for label in ("stdout", "stderr"):
        a, b = getattr(real, label), getattr(ours, label)
        if a != b:
            diffs.append(f"{label} differs:\n" + _text_diff(a.replace("\r", "\\r\n"),
                                                            b.replace("\r", "\\r\n"), label))
    if real.status != ours.status:
        diffs.append(f"exit status differs: real {real.status}, ours {ours.status}")
    for label in ("files", "memory"):
        a, b = getattr(real, label), getattr(ours, label)
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                diffs.append(f"{label} differs: {name}: " + _bytes_diff(a.get(name), b.get(name)))
    if real.wire != ours.wire:
        diffs.append("requests on the wire differ:\n" + _text_diff("\n".join(real.wire), "\n".join(ours.wire),
                                                                    "wire"))
    return diffs


def _bytes_diff(a: bytes | None, b: bytes | None) -> str:
    if a is None or b is None:
        return "only in " + ("ours" if a is None else "real")
    if len(a) != len(b):
        return f"sizes {len(a)} (real) vs {len(b)} (ours)"
    first = next(i for i in range(len(a)) if a[i] != b[i])
    return f"first difference at offset {first:#x}: {a[first]:#04x} (real) vs {b[first]:#04x} (ours)"


def differences(case: Case) -> list[str]:
    return compare(run_case(case, "real"), run_case(case, "ours"))


def umockdev_missing() -> str | None:
    """Why umockdev cannot show simulated devices here, or None when it can."""
    if not shutil.which("umockdev-wrapper"):
        return "umockdev-wrapper not installed (scripts/install-peers --apt)"
    probe = subprocess.run(["/usr/bin/python3", "-c", "import gi; gi.require_version('UMockdev', '1.0')"],
                           capture_output=True)
    if probe.returncode:
        return "/usr/bin/python3 cannot import gi/UMockdev (scripts/install-peers --apt)"
    return None


def prerequisites_missing() -> str | None:
    """Why this tier cannot run here (umockdev, gi for /usr/bin/python3, the real dfu-util, ours)."""
    missing = umockdev_missing()
    if missing:
        return missing
    if not os.access(REAL_DFU_UTIL, os.X_OK):
        return f"{REAL_DFU_UTIL} not installed (scripts/install-peers --apt)"
    if not Path(our_dfu_util()[0]).exists():
        return f"our dfu-util console script {our_dfu_util()[0]} is missing (pip install -e .)"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-k", dest="match", help="only cases whose name contains this")
    # runs spend much of their time in dfu-util's own sleeps (poll timeouts, 1 s after manifest)
    parser.add_argument("-j", dest="jobs", type=int, default=3 * (os.cpu_count() or 1))
    parser.add_argument("-v", dest="verbose", action="store_true", help="list every case")
    parser.add_argument("--list", action="store_true", help="list the cases and stop")
    opts = parser.parse_args(argv)
    missing = prerequisites_missing()
    if missing:
        in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
        print(f"differential: {'FAILED' if in_ci else 'skipped'}: {missing}")
        return 1 if in_ci else 0
    cases = [c for c in all_cases() if not opts.match or opts.match in c.name]
    if opts.list:
        for case in cases:
            print(case.name, " ".join(case.args))
        return 0
    total = 0
    failed = 0
    with ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        for case, result in zip(cases, pool.map(_safe_differences, cases)):
            total += len(result)
            if result:
                failed += 1
                print(f"DIFFERENT {case.name}: dfu-util {' '.join(case.args)}  "
                      f"[{','.join(case.profiles)} {' '.join(f'{k}={v}' for k, v in case.knobs.items())}]")
                for diff in result:
                    print("  " + diff.replace("\n", "\n  "))
            elif opts.verbose:
                print(f"same {case.name}")
    compat = sum(1 for c in cases if c.source == "compat")
    print(f"differential: {len(cases)} scenarios ({compat} from compat/, {len(cases) - compat} added), "
          f"{total} differences" + (f" in {failed} scenarios" if failed else ""))
    return 1 if total else 0


def _safe_differences(case: Case) -> list[str]:
    try:
        return differences(case)
    except subprocess.TimeoutExpired:
        return [f"timed out after {RUN_TIMEOUT_S} s"]


if __name__ == "__main__":
    sys.exit(main())
