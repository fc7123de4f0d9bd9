"""siamese-siren: audio compression with implicit neural representations (Siamese SIREN)."""

__version__ = "0.1.0"
