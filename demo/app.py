"""The cofin Gradio demo: upload a video, see who does what, when.

Holds no model logic: one :meth:`cofin_sdk.Detector.analyze` call per request runs the
backbone once per keyframe clip for the detection head and every chosen classification
head; the page shows what it returns:

- the annotated video, H.264 ``yuv420p`` mp4 with the index first (``+faststart``), so
  every browser plays it while it downloads (written by ``Detections.save_video``);
- the detections table (time, track, box, person score, top actions), downloadable as CSV
  (``Detections.to_pandas``: every class score) and JSON (``Detections.to_json``, with the
  timeline);
- the top-5 of each classification head (``gr.Label``), averaged over the clips;
- an action timeline, classes x time heat maps (:mod:`demo.plots`);
- a per-person timeline: people are tracked (``analyze(track=True)``) and each track's
  action segments (``Detections.timeline``, THE timeline rule, on threshold = the page's
  score threshold, gaps up to one keyframe interval filled) are drawn as Gantt bars;
- a "Live" tab: the browser's webcam through ``Detector.stream`` (:mod:`demo.live`).

Run it with ``cofin demo --model DIR_OR_REPO`` or, as on Hugging Face Spaces,
``MODEL=DIR_OR_REPO python demo/app.py`` (optional ``REVISION``, ``BACKEND``,
``BACKEND_URL``, ``DEVICE``, ``HOST``, ``PORT``; unset ``HOST``/``PORT`` fall back to gradio's
``GRADIO_SERVER_NAME``/``GRADIO_SERVER_PORT``, which Spaces sets).

Serving: one request at a time (``CONCURRENCY``; a 2-core CPU gains nothing from two),
at most ``QUEUE_SIZE`` waiting, uploads up to ``MAX_FILE_SIZE``. Bad input (a corrupt or
non-video upload, a keyframe interval shorter than a frame) shows the SDK's one-line
message in the page; no traceback reaches the browser. Each request writes into its own
folder under ``$GRADIO_TEMP_DIR`` (default ``<tmp>/gradio``); folders older than
``KEEP_RUNS_SECONDS`` are removed by the next request and all of them by
:meth:`CofinDemo.close`, and gradio's own copies by ``delete_cache``.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    import gradio as gr
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(f'the demo needs gradio ({exc}): pip install "cofin-sdk[demo]"') from exc

if TYPE_CHECKING:
    from cofin_sdk import Analysis, Classifications, Detections, Detector
    from demo.examples import Examples

logger = logging.getLogger(__name__)

__all__ = ["BACKENDS", "CofinDemo", "detections_table", "load_detector", "main", "person_timeline"]

BACKENDS = ("torch", "onnx", "triton")
ANNOTATED_MIN_HEIGHT = 360  # small videos are upscaled so the labels stay readable
TOP_K = 5  # classes per classification head
TABLE_ACTIONS = 3  # actions per box in the table and on the video
CONCURRENCY = 1
QUEUE_SIZE = 16
MAX_FILE_SIZE = "200mb"
KEEP_RUNS_SECONDS = 3600  # served from there (the links in the page), like gradio's cache
DELETE_CACHE = (600, 3600)  # gradio: every 10 min, delete its cached files older than 1 h
TABLE_COLUMNS = ["time (s)", "track", "x1", "y1", "x2", "y2", "person score", "top actions"]
TRACK_FPS = 5.0  # people found 5 times a second between keyframes, for tracking


# --------------------------------------------------------------------------- loading
def load_detector(
    model: str | os.PathLike,
    backend: str = "torch",
    url: str | None = None,
    device: str = "cpu",
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Detector:
    """The demo's :class:`~cofin_sdk.Detector` (progress bars on, for ``gr.Progress``).

    Args:
        model: Folder written by ``save_pretrained`` or a Hugging Face Hub repo id.
        backend: ``"torch"``, ``"onnx"`` (the export travelling with the weights) or
            ``"triton"`` (a Triton server at ``url``).
        url: Triton server address, ``grpc://HOST:PORT`` or ``http://HOST:PORT``
            (``"triton"`` only; the server's ``cofin`` ensemble serves, ``model`` only
            names it on the page).
        device: Torch device; for ``"onnx"`` it picks onnxruntime's providers.
        revision, cache_dir: Hub revision and cache folder of a repo id (passed on only
            when given; not for ``"triton"``).

    Raises:
        ValueError: Unknown backend, ``url`` without ``"triton"`` or the reverse, or a
            backend this ``cofin_sdk`` does not have yet.
        FileNotFoundError: If the model folder or cached repo does not exist.
    """
    from cofin_sdk import Detector

    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if (url is not None) != (backend == "triton"):
        raise ValueError(
            "a url is only for backend 'triton'"
            if url is not None
            else "backend 'triton' needs the server's url (e.g. grpc://127.0.0.1:8001)"
        )
    hub = {k: v for k, v in (("revision", revision), ("cache_dir", cache_dir)) if v is not None}
    if backend == "torch":
        return Detector.from_pretrained(model, device=device, progress=True, **hub)
    if backend == "onnx":
        if "backend" in inspect.signature(Detector.from_pretrained).parameters:
            return Detector.from_pretrained(
                model, backend="onnx", device=device, progress=True, **hub
            )
        raise ValueError(
            "backend 'onnx' is not available in this cofin_sdk yet (it needs "
            "Detector.from_pretrained(..., backend='onnx')); use backend 'torch'"
        )
    from_triton = getattr(Detector, "from_triton", None)
    if from_triton is None:
        raise ValueError(
            "backend 'triton' is not available yet (this cofin_sdk has no "
            "Detector.from_triton); use backend 'torch'"
        )
    return from_triton(url, progress=True)  # the server holds the weights


# --------------------------------------------------------------------------- results
def detections_table(detections: Detections, k: int = TABLE_ACTIONS) -> Any:
    """One row per person box: :data:`TABLE_COLUMNS` (pixels, seconds, best ``k`` actions)."""
    import numpy as np
    import pandas as pd

    boxes = detections.boxes.astype(np.float64).round(1)  # float64 first: 51.3, not 51.2999
    columns = {"time (s)": detections.timestamps.round(3), "track": detections.track_ids}
    columns.update({name: boxes[:, i] for i, name in enumerate(TABLE_COLUMNS[2:6])})
    columns["person score"] = detections.person_scores.astype(np.float64).round(3)
    columns["top actions"] = detections.labels(k)
    return pd.DataFrame(columns, columns=TABLE_COLUMNS)


def person_timeline(detections: Detections, every: float) -> Any:
    """The page's per-person timeline: on threshold = the page's score threshold (at least
    0.05, so a threshold of 0 does not light every class), gaps up to one keyframe filled."""
    tracked = detections[detections.track_ids >= 0]  # boxes the tracker did not confirm: none
    return tracked.timeline(threshold=max(detections.threshold, 0.05), max_gap_s=every)


def _label_value(result: Classifications | None) -> dict[str, float] | None:
    return None if result is None else dict(result.top_k(TOP_K))


def _summary(analysis: Analysis) -> str:
    detections = analysis.detections
    assert detections is not None  # the demo always runs its detection head
    with_people = len(set(detections.timestamps.tolist()))
    clips = next(iter(analysis.classifications.values()), None)
    keyframes = f" of {clips.num_clips}" if clips is not None else ""
    return (
        f"**{len(detections)} person boxes** on {with_people}{keyframes} keyframes "
        f"(person boxes: {detections.detector}; video {detections.frame_size[0]}x"
        f"{detections.frame_size[1]})"
    )


# --------------------------------------------------------------------------- the page
class CofinDemo:
    """The demo page over one :class:`~cofin_sdk.Detector`.

    Args:
        detector: The detector (it needs a detection head; classification heads optional).
        model_name: What to call the model on the page.
        examples: Example clips (:func:`demo.examples.ensure_examples`), or ``None``.
        work_dir: Where request folders go (default ``$GRADIO_TEMP_DIR`` or ``<tmp>/gradio``).

    Raises:
        ValueError: If the weights have no detection head.

    Example:
        >>> demo = CofinDemo(load_detector("runs/model"))  # doctest: +SKIP
        >>> demo.launch(host="127.0.0.1", port=7860)  # doctest: +SKIP
    """

    def __init__(
        self,
        detector: Detector,
        *,
        model_name: str = "",
        examples: Examples | None = None,
        work_dir: str | os.PathLike | None = None,
    ) -> None:
        from cofin_sdk.detector import resolve_head
        from cofin_sdk.person_detection import AVA_TIME_OFFSET, AvaCsvBoxes

        self.detector = detector
        self.model_name = model_name
        self.detection_head = resolve_head(detector.heads, None, "detection")
        self.classification_heads = [
            name for name, spec in detector.heads.items() if spec.task == "classification"
        ]
        self.examples = examples
        self._example_boxes = (
            AvaCsvBoxes(examples.boxes_csv, time_offset=AVA_TIME_OFFSET) if examples else None
        )
        root = Path(work_dir or os.environ.get("GRADIO_TEMP_DIR") or _default_gradio_dir())
        root.mkdir(parents=True, exist_ok=True)
        self.work_dir = Path(tempfile.mkdtemp(prefix="cofin-demo-", dir=root))
        self.blocks = self._build()

    # ------------------------------------------------------------------ one request
    def analyze(
        self,
        video: str | None,
        threshold: float,
        every: float,
        heads: Sequence[str] | None,
        progress: Any = None,
    ) -> tuple[Any, ...]:
        """One request: the outputs in page order (video, summary, table, CSV, JSON, plot,
        one label per classification head).

        Raises:
            gr.Error: With the SDK's one-line message for bad input.
        """
        if not video:
            raise gr.Error("Upload a video or pick an example first.", print_exception=False)
        chosen = [h for h in self.classification_heads if h in (heads or ())]
        self._remove_old_runs()
        run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=self.work_dir))
        try:
            analysis, annotated = self._run(video, run_dir, chosen, threshold, every, progress)
        except Exception as exc:
            shutil.rmtree(run_dir, ignore_errors=True)
            if isinstance(exc, (ValueError, TypeError, OSError)):  # the SDK's bad-input errors
                message = str(exc).replace(str(video), Path(video).name)  # no server paths
            else:  # a bug: the log gets the traceback, the page one line
                logger.exception("demo request failed")
                message = f"{type(exc).__name__}: {exc}"
            raise gr.Error(message or type(exc).__name__, print_exception=False) from None
        return self._outputs(analysis, annotated, run_dir / Path(video).stem, float(every))

    def _run(
        self,
        video: str,
        run_dir: Path,
        heads: list[str],
        threshold: float,
        every: float,
        progress: Any,
    ) -> tuple[Analysis, Path]:
        """The SDK's part: one ``Detector.analyze`` and the annotated video."""
        analysis = self.detector.analyze(
            video,
            heads=[self.detection_head, *heads],
            every=float(every),
            threshold=float(threshold),
            person_detector=self._person_detector(video),
            track=True,
            track_fps=TRACK_FPS,
        )
        if progress is not None:
            progress(0.99, desc="drawing the annotated video")
        assert analysis.detections is not None  # the detection head was asked for
        annotated = analysis.detections.save_video(
            f"{run_dir / Path(video).stem}_annotated.mp4",
            video,
            min_height=ANNOTATED_MIN_HEIGHT,
            faststart=True,
        )
        return analysis, annotated

    def _outputs(
        self, analysis: Analysis, annotated: Path, stem: Path, every: float
    ) -> tuple[Any, ...]:
        """The page's outputs; downloads are written next to ``stem`` (run folder + name)."""
        from demo.plots import person_timeline_figure, timeline_figure

        detections = analysis.detections
        assert detections is not None
        timeline = person_timeline(detections, every)
        csv_path, json_path = f"{stem}_detections.csv", f"{stem}_detections.json"
        detections.to_pandas().to_csv(csv_path, index=False)
        detections.to_json(json_path, indent=2, timeline=timeline)
        labels = [_label_value(analysis.classifications.get(h)) for h in self.classification_heads]
        return (
            str(annotated),
            _summary(analysis),
            detections_table(detections),
            csv_path,
            json_path,
            timeline_figure(analysis),
            person_timeline_figure(timeline),
            *labels,
        )

    def _person_detector(self, video: str) -> Any:
        """The example box file for example clips (matched by file name), else the default."""
        boxes = self._example_boxes
        return boxes if boxes is not None and Path(video).stem in boxes.video_ids else None

    def _remove_old_runs(self) -> None:
        cutoff = time.time() - KEEP_RUNS_SECONDS
        for run_dir in self.work_dir.glob("run-*"):
            with contextlib.suppress(FileNotFoundError):  # another request removed it
                if run_dir.stat().st_mtime < cutoff:
                    shutil.rmtree(run_dir, ignore_errors=True)

    # ------------------------------------------------------------------ layout
    def _build(self) -> gr.Blocks:
        heads = self.classification_heads
        with gr.Blocks(
            title="cofin demo", analytics_enabled=False, delete_cache=DELETE_CACHE
        ) as blocks:
            gr.Markdown(self._header())
            with gr.Tab("Video", id="video"):
                with gr.Row():
                    with gr.Column(scale=2):
                        video = gr.Video(label="Video", sources=["upload"], elem_id="input-video")
                        threshold = gr.Slider(
                            0.0, 1.0, value=0.3, step=0.05, label="Score threshold"
                        )
                        every = gr.Slider(
                            0.2, 5.0, value=1.0, step=0.1, label="Keyframe interval (s)"
                        )
                        chosen = gr.CheckboxGroup(heads, value=heads, label="Classification heads")
                        run = gr.Button("Run", variant="primary", elem_id="run")
                        if self.examples is not None and self.examples.videos:
                            gr.Examples(
                                [[str(path)] for path in self.examples.videos],
                                inputs=[video],
                                label="Synthetic example clips",
                                cache_examples=False,
                            )
                    with gr.Column(scale=3):
                        annotated = gr.Video(
                            label="Annotated video", interactive=False, elem_id="output-video"
                        )
                        summary = gr.Markdown(label="Summary", elem_id="summary")
                        with gr.Row():
                            labels = [
                                gr.Label(
                                    num_top_classes=TOP_K,
                                    label=f"{h}: top-{TOP_K}",
                                    show_heading=False,
                                )
                                for h in heads
                            ]
                plot = gr.Plot(
                    label="Action timeline (classes x time)", format="png", elem_id="timeline"
                )
                people = gr.Plot(
                    label="Per-person timeline (tracks x time)",
                    format="png",
                    elem_id="person-timeline",
                )
                table = gr.Dataframe(
                    headers=TABLE_COLUMNS, label="Detections", interactive=False, wrap=True
                )
                with gr.Row():
                    csv_file = gr.File(label="Detections CSV")
                    json_file = gr.File(label="Detections JSON")

                def run_analysis(
                    video: str | None,
                    threshold: float,
                    every: float,
                    heads: list[str],
                    progress: gr.Progress = gr.Progress(track_tqdm=True),
                ) -> tuple[Any, ...]:
                    return self.analyze(video, threshold, every, heads, progress)

                run.click(
                    run_analysis,
                    inputs=[video, threshold, every, chosen],
                    outputs=[annotated, summary, table, csv_file, json_file, plot, people, *labels],
                    api_name="analyze",
                )
            with gr.Tab("Live", id="live"):
                self._build_live()
        blocks.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
        return blocks

    def _build_live(self) -> None:
        """The "Live" tab: webcam frames stream into ``Detector.stream`` (:mod:`demo.live`)."""
        from demo.live import FRAME_EVERY_S, LiveSession

        gr.Markdown(
            "Live: your webcam, scored every second on the clip that ends at each keyframe "
            "(causal), skipping keyframes when the model falls behind."
        )
        with gr.Row():
            webcam = gr.Image(
                sources=["webcam"], streaming=True, type="numpy", label="Webcam", elem_id="webcam"
            )
            shown = gr.Image(label="Latest keyframe", interactive=False, elem_id="live-output")
        text = gr.Textbox(label="Latest result", interactive=False, elem_id="live-summary")
        session = gr.State(None, delete_callback=lambda live: live and live.close())

        def push(frame: Any, live: LiveSession | None) -> tuple[Any, str, LiveSession]:
            live = live or LiveSession(self.detector)
            image, summary = live.push(frame)
            return image, summary, live

        webcam.stream(
            push,
            inputs=[webcam, session],
            outputs=[shown, text, session],
            stream_every=FRAME_EVERY_S,
            concurrency_limit=None,
        )

    def _header(self) -> str:
        heads = ", ".join(f"`{name}` ({spec.task})" for name, spec in self.detector.heads.items())
        model = f" `{self.model_name}`" if self.model_name else ""
        return (
            "# cofin: who does what, when\n"
            f"Co-finetuned ViViT{model}, heads {heads}. Upload a video (or pick an example): "
            "people are found on keyframes, their actions scored by the detection head, and "
            "each keyframe's clip classified by the classification heads, from one backbone "
            "pass per clip."
        )

    # ------------------------------------------------------------------ serving
    def launch(self, host: str | None = None, port: int | None = None, **kwargs: Any) -> Any:
        """Serves the page (blocking unless ``prevent_thread_lock=True``).

        Args:
            host: Address to bind (default gradio's: ``$GRADIO_SERVER_NAME`` or 127.0.0.1).
            port: Port (default gradio's: ``$GRADIO_SERVER_PORT`` or the first free from 7860).
            **kwargs: More ``gr.Blocks.launch`` arguments.
        """
        options = {"max_file_size": MAX_FILE_SIZE, "ssr_mode": False, "show_error": False}
        return self.blocks.launch(server_name=host, server_port=port, **{**options, **kwargs})

    def serve(self, host: str | None = None, port: int | None = None) -> None:
        """Serves until Ctrl-C or SIGTERM (containers, Spaces), then :meth:`close`."""
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            self.launch(host, port)  # blocks; gradio closes its server on KeyboardInterrupt
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.close()

    def close(self) -> None:
        """Stops the server and removes every request folder."""
        self.blocks.close()
        shutil.rmtree(self.work_dir, ignore_errors=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _default_gradio_dir() -> Path:
    return Path(tempfile.gettempdir()) / "gradio"


# --------------------------------------------------------------------------- Spaces
def main() -> None:
    """``python demo/app.py``: the model and server settings come from the environment."""
    from demo.examples import ensure_examples

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    model = os.environ.get("MODEL")
    if not model:
        sys.exit("set MODEL to a model folder or a Hugging Face Hub repo id")
    detector = load_detector(
        model,
        backend=os.environ.get("BACKEND", "torch"),
        url=os.environ.get("BACKEND_URL"),
        device=os.environ.get("DEVICE", "cpu"),
        revision=os.environ.get("REVISION"),
    )
    port = os.environ.get("PORT")
    demo = CofinDemo(detector, model_name=model, examples=ensure_examples())
    demo.serve(os.environ.get("HOST"), int(port) if port else None)


if __name__ == "__main__":
    if not __package__:  # run as a script (Spaces): make the repo's packages importable
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
