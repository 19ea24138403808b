"""Exceptions that carry a message meant for the user (CLI stderr, MQTT reply)."""


class FrdError(Exception):
    """Base class: the message is shown to the user as is."""


class InputError(FrdError):
    """Bad user input (name, image, payload): refused, nothing changed."""


class ModelError(FrdError):
    """A model file is missing, corrupt, or not the one the manifest names."""


class GalleryError(FrdError):
    """The gallery could not be read or written."""
