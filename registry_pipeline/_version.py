"""The package version, kept in one place so that run envelopes can record it cheaply."""

__version__ = "0.1.0"
