"""Helpers shared by the tabs: turning library errors into ``gr.Error`` and reading uploads safely."""
from __future__ import annotations

import contextlib

import gradio as gr

from models.weights import WeightsUnavailable

#: Errors that carry a message meant for the user. Library code raises these with the reason.
USER_ERRORS = (ValueError, WeightsUnavailable, FileNotFoundError)


@contextlib.contextmanager
def user_errors():
    """Re-raise library errors with a reason as ``gr.Error`` so the browser and API callers see the message."""
    try:
        yield
    except gr.Error:
        raise
    except USER_ERRORS as exc:
        raise gr.Error(str(exc)) from exc
    except MemoryError as exc:
        raise gr.Error("Out of memory: try a smaller input or scale.") from exc
