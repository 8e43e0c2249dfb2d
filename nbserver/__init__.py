"""nbserver: a Tornado notebook server that speaks the Jupyter Server REST API."""

__version__ = "0.1.0"
