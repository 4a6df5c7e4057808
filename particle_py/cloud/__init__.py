"""The Particle Cloud API client (``api``) and particle-cli's config files (``config``)."""
