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


def _name(component) -> str:
    return str(component.label or "value")


def checked_number(component, payload, integer: bool):
    """``payload`` as a finite float (an int for ``integer``), within the component's bounds, or a ``gr.Error``."""
    name = _name(component)
    if isinstance(payload, bool) or payload is None:
        raise gr.Error(f"{name} must be a number, got {payload!r}.", print_exception=False)
    try:
        value = float(payload)
    except (TypeError, ValueError):
        raise gr.Error(f"{name} must be a number, got {payload!r}.", print_exception=False) from None
    if not math.isfinite(value):
        raise gr.Error(f"{name} must be a finite number, got {payload!r}.", print_exception=False)
    lo, hi = component.minimum, component.maximum
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise gr.Error(f"{name} must be between {lo:g} and {hi:g}, got {value:g}.", print_exception=False)
    if integer:
        if value != int(value):
            raise gr.Error(f"{name} must be a whole number, got {value:g}.", print_exception=False)
        return int(value)
    return value

from gradio.events import Dependency

class Number(gr.Number):
    is_template = True

    def preprocess(self, payload):
        if payload is None:
            return None
        return checked_number(self, payload, self.precision == 0)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class Slider(gr.Slider):
    """A slider whose value must be a whole number when ``step`` is a whole number and ``integer`` is set."""

    is_template = True

    def __init__(self, *args, integer: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.integer = integer

    def preprocess(self, payload):
        return checked_number(self, payload, self.integer)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class ImageUpload(gr.Image):
    """``gr.Image`` that hands the handler the uploaded file's path, undecoded (``type`` is always "filepath")."""

    is_template = True

    def __init__(self, *args, **kwargs):
        kwargs["type"] = "filepath"
        super().__init__(*args, **kwargs)

    def preprocess(self, payload):
        if payload is None:
            return None
        if payload.url and payload.url.startswith("data:"):
            return super().preprocess(payload)
        if not payload.path:
            raise gr.Error(f"{_name(self)}: the upload has no file.", print_exception=False)
        return str(payload.path)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component