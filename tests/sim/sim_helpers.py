"""Helpers for the simulator tests: a bus from profiles, and a DFU client on raw transfers."""
import struct

from particle_py.sim import SimBus, create_state


def make_bus(state_dir, profiles, knobs=None):
    create_state(state_dir, profiles, knobs or {})
    return SimBus.load(state_dir)


class Dfu:
    """A tiny host for driving a SimDevice by hand in tests (DFU class requests on intf 0)."""

    def __init__(self, dev, intf=0):
        self.dev, self.intf = dev, intf

    def status(self):
        raw = self.dev.control(0xA1, 3, 0, self.intf, b"", 6)
        return raw[0], int.from_bytes(raw[1:4], "little"), raw[4]

    def dnload(self, block, data):
        self.dev.control(0x21, 1, block, self.intf, data, len(data))

    def command(self, payload):
        self.dnload(0, payload)
        return [self.status(), self.status()]

    def set_address(self, address):
        return self.command(b"\x21" + struct.pack("<I", address))

    def erase(self, address):
        return self.command(b"\x41" + struct.pack("<I", address))

    def write(self, address, data):
        self.set_address(address)
        self.dnload(2, data)
        return [self.status(), self.status()]

    def abort(self):
        self.dev.control(0x21, 6, 0, self.intf, b"", 0)

    def upload(self, block, length):
        return self.dev.control(0xA1, 2, block, self.intf, b"", length)

    def read(self, address, length, tsize=4096):
        self.set_address(address)
        self.abort()
        out = b""
        block = 2
        while len(out) < length:
            chunk = self.upload(block, min(tsize, length - len(out)))
            out += chunk
            block += 1
            if not chunk:
                break
        self.abort()
        return out
