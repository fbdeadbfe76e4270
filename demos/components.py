"""Gradio input components that check what API callers send and say which parameter is wrong.

Gradio's own ``Number`` / ``Slider`` fail with a generic error on text such as "abc", name no parameter when a value
is out of range, and round 2.5 to 2 for an integer field; its ``Image`` decodes the upload with Pillow before the
handler runs (a non-image is a generic error, a "PNG bomb" is decoded in full). These subclasses render exactly as
Gradio's (``is_template``) and hand the handler a checked number, or the image file's path for
:func:`models.imageio.read_image` to check from its header.
"""
from __future__ import annotations

import math

import gradio as gr

from .common import user_error


def _fail(message: str) -> gr.Error:
    """The error for a bad input value: one line in the server log (as every user error), no traceback."""
    return user_error("input", message)


def _name(component) -> str:
    return str(component.label or "value")


def checked_number(component, payload, integer: bool):
    """``payload`` as a finite float (an int for ``integer``), within the component's bounds, or a ``gr.Error``."""
    name = _name(component)
    if isinstance(payload, bool) or payload is None:
        raise _fail(f"{name} must be a number, got {payload!r}.")
    try:
        value = float(payload)
    except (TypeError, ValueError):
        raise _fail(f"{name} must be a number, got {payload!r}.") from None
    if not math.isfinite(value):
        raise _fail(f"{name} must be a finite number, got {payload!r}.")
    lo, hi = component.minimum, component.maximum
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _fail(f"{name} must be between {lo:g} and {hi:g}, got {value:g}.")
    if integer:
        if value != int(value):
            raise _fail(f"{name} must be a whole number, got {value:g}.")
        return int(value)
    return value


class Number(gr.Number):
    is_template = True

    def preprocess(self, payload):
        if payload is None:
            return None
        return checked_number(self, payload, self.precision == 0)


class Slider(gr.Slider):
    """A slider whose value must be a whole number with ``precision=0``."""

    is_template = True

    def preprocess(self, payload):
        return checked_number(self, payload, self.precision == 0)


class ImageUpload(gr.Image):
    """``gr.Image`` that hands the handler the uploaded file's path, undecoded (create it with
    ``type="filepath"``)."""

    is_template = True

    def preprocess(self, payload):
        if payload is None:
            return None
        if payload.url and payload.url.startswith("data:"):
            return super().preprocess(payload)
        if not payload.path:
            raise _fail(f"{_name(self)}: the upload has no file.")
        return str(payload.path)


def checked_choice(component, payload):
    """``payload`` if it is one of the component's choices (numbers compare by value: 2, 2.0 and "2" are 2),
    else a ``gr.Error`` naming the parameter and the choices."""
    values = [v for _, v in component.choices]
    if payload in values and not isinstance(payload, bool):
        return payload
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            try:
                if float(payload) == float(v):
                    return v
            except (TypeError, ValueError):
                pass
    shown = ", ".join(repr(v) for v in values)
    raise _fail(f"{_name(component)} must be one of {shown}; got {payload!r}.")


class Dropdown(gr.Dropdown):
    """A single-choice dropdown whose API value must be one of its choices (message names the parameter)."""

    is_template = True

    def preprocess(self, payload):
        if payload is None or self.multiselect or self.allow_custom_value:
            return super().preprocess(payload)
        return checked_choice(self, payload)


class Radio(gr.Radio):
    is_template = True

    def preprocess(self, payload):
        if payload is None:
            return None
        return checked_choice(self, payload)
