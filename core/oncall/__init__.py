"""OnCall: self-hosted alerting and on-call. See README.md and DESIGN.md for the map."""

__version__ = "0.1.0"
