"""The USB serial (CDC) ports of Particle devices: discovery, opening, the listening-mode
protocol, and the USB control requests that answer the same questions on newer Device OS.

Named ``serial_link`` so that it never shadows pyserial's ``serial`` package. pyserial is
imported only when a port is listed or opened (``particle --help`` does not load it). Under
``PARTICLE_PY_SIM`` ports are listed and opened through ``sim_link`` (the simulator's devices),
and everything above that seam is the code that runs on hardware.
"""
