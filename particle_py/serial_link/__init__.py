"""The USB serial (CDC) ports of Particle devices: discovery, opening, the listening-mode
protocol, and the USB control requests that answer the same questions on newer Device OS.

Named ``serial_link`` so that it never shadows pyserial's ``serial`` package. pyserial is
imported only when a port is listed or opened (``particle --help`` does not load it). Ports are
listed and opened through a backend (``backend.py``): pyserial, or under ``PARTICLE_PY_SIM`` the
simulator's, which ``particle_py.usb`` hands out; everything above that seam is the code that
runs on hardware, and nothing here imports the simulator.
"""
