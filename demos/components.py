"""Gradio input components that check what API callers send and say which parameter is wrong.

Gradio's own ``Number`` / ``Slider`` fail with a generic error on text such as "abc", name no parameter when a value
is out of range, and round 2.5 to 2 for an integer field; its ``Image`` decodes the upload with Pillow before the
handler runs (a non-image is a generic error, a "PNG bomb" is decoded in full). These subclasses render exactly as
Gradio's (``is_template``) and hand the handler a checked number, or the image file's path for
:func:`models.imageio.read_image` to check from its header.
"""
from __future__ import annotations

import logging

import gradio as gr

from models import checks

log = logging.getLogger("frameforge")


def user_error(endpoint: str, message: str) -> gr.Error:
    """The ``gr.Error`` for an expected mistake: one line in the server log, no traceback (``demos.common`` and
    every tab use this one; it lives here, below them, so the components need nothing above them)."""
    log.info("%s: %s", endpoint, message)
    return gr.Error(message, print_exception=False)


def _fail(message: str) -> gr.Error:
    """The error for a bad input value: one line in the server log (as every user error), no traceback."""
    return user_error("input", message)


def _name(component) -> str:
    return str(component.label or "value")


def checked_number(component, payload, integer: bool):
    """``payload`` as a finite float (an int for ``integer``), within the component's bounds, or a ``gr.Error``."""
    name = _name(component)
    try:
        return checks.number(payload, name, component.minimum, component.maximum, integer)
    except ValueError as exc:
        raise _fail(str(exc)) from None


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
            # A data: URL is saved as the bytes it carries, never decoded here: read_image then checks its size
            # from the header and its format, as for an uploaded file (Gradio's own preprocess decodes it whole).
            from gradio import processing_utils

            try:
                return processing_utils.save_base64_to_cache(payload.url, self.GRADIO_CACHE)
            except Exception:  # noqa: BLE001 - malformed base64 or header
                raise _fail(f"{_name(self)}: the data: URL is not valid base64 image data.") from None
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
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not isinstance(payload, bool):
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

    def api_info(self) -> dict:
        """Numeric choices are numbers in the API and MCP schema (Gradio types every dropdown as a string)."""
        return numeric_info(self, super().api_info())


def numeric_info(component, info: dict) -> dict:
    """``info`` with ``type`` "integer" or "number" when every choice of ``component`` is a number."""
    values = [v for _, v in component.choices]
    if not values or getattr(component, "multiselect", False):
        return info
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return dict(info, type="integer" if all(isinstance(v, int) for v in values) else "number")
    return info


class Checkbox(gr.Checkbox):
    """A checkbox whose API value must be a JSON boolean: the strings "false" or "no" (which Gradio's checkbox
    takes as true) and numbers are refused with a message naming the parameter (:func:`models.checks.boolean`)."""

    is_template = True

    def preprocess(self, payload):
        try:
            return checks.boolean(payload, _name(self))
        except ValueError as exc:
            raise _fail(str(exc)) from None


class SourceDropdown(gr.Dropdown):
    """A dropdown of suggestions that also takes any typed value (``allow_custom_value``): its API and MCP schema is
    a plain string, described with the suggestions, not an enum of them (Gradio's schema would refuse the
    documented folder and Hub sources)."""

    is_template = True

    def api_info(self) -> dict:
        info = super().api_info()
        if self.allow_custom_value:
            info.pop("enum", None)
            if "items" in info:
                info["items"].pop("enum", None)
        return info


class Radio(gr.Radio):
    is_template = True

    def preprocess(self, payload):
        if payload is None:
            return None
        return checked_choice(self, payload)
