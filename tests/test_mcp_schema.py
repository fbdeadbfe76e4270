"""What an MCP client / the API page reads about each tool (issue 33 item 13): whole argument descriptions, one
returns sentence without stray commas, numeric choices typed as numbers, tools named after their endpoints."""
from __future__ import annotations

import gradio.utils


def test_wrapped_docstrings_are_read_whole():
    from demos.common import tool_doc

    doc = """Do a thing.

    Args:
        video: the input video file (mp4, mov,
            webm, ...).
        scale: spatial scale, 1 to 8.

    Returns:
        The upscaled mp4, a before/after pair of the first frame (before = the input pixels enlarged without
        smoothing) and a short report.
    """

    def fn(video, scale):
        pass

    fn.__doc__ = tool_doc(doc)
    description, params, returns = gradio.utils.get_function_description(fn)
    assert description == "Do a thing."
    assert params == {"video": "the input video file (mp4, mov, webm, ...).", "scale": "spatial scale, 1 to 8."}
    assert returns == ["The upscaled mp4, a before/after pair of the first frame (before = the input pixels enlarged "
                       "without smoothing) and a short report."]
    assert tool_doc(None) is None


def test_every_handler_reads_whole_and_is_named_after_its_endpoint():
    from demos import compression, face_sr, interpolation, video_sr

    handlers = {"video_sr": video_sr.video_sr, "compare": video_sr.compare,
                "interpolate_pair": interpolation.interpolate_pair,
                "interpolate_video": interpolation.interpolate_video, "face_sr": face_sr.face_sr,
                "face_compare": face_sr.compare_teacher_student, "compress": compression.compress,
                "svs_spectrum": compression.svs_spectrum, "video_sr_batch": video_sr.video_sr_batch,
                "interpolate_video_batch": interpolation.interpolate_video_batch,
                "face_sr_batch": face_sr.face_sr_batch}
    for endpoint, fn in handlers.items():
        assert fn.__name__ == endpoint
        description, params, returns = gradio.utils.get_function_description(fn)
        assert len(returns) == 1 and ", ," not in returns[0] and not returns[0].endswith(","), endpoint
        for name, text in params.items():
            if name == "progress":
                continue
            assert text and text.rstrip()[-1] in ".)\"'", (endpoint, name, text)  # a whole sentence, not a cut line
    params = gradio.utils.get_function_description(face_sr.face_sr)[1]
    assert params["background"].endswith("False for Lanczos.")


def test_numeric_dropdowns_are_numbers_in_the_schema():
    from demos.components import Dropdown

    assert Dropdown([1, 2, 4, 8], value=2, label="Time factor").api_info()["type"] == "integer"
    assert Dropdown([0.5, 1], value=1, label="x").api_info()["type"] == "number"
    assert Dropdown(["a", "b"], value="a", label="x").api_info()["type"] == "string"
