"""particle-py: Particle CLI and dfu-util drop-ins with in-process crypto.

Kept import-free: the CLIs start fast and the simulator (stdlib only) can import
package data under the system Python.
"""
__version__ = "0.1.0"
