"""Bad input, tried systematically through the ``cofin`` CLI: every row is one mistake a
user makes, and the CLI must answer it with exit code 1 and ONE line that names the
problem and the fix in CLI vocabulary, with no traceback and no file written anywhere.

Rows run in-process through ``cofin_sdk.cli.main.main`` in a fresh working directory; every
file under that directory and under the shared inputs is listed before and after.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
from _fixtures import tiny_model

from cofin_sdk.cli.main import main
from cofin_sdk.io.video import write_video


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, request) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    model = tiny_model(
        num_frames=4,
        image_size=32,
        heads={
            "ava": {"task": "detection", "num_classes": 3},
            "kinetics": {"task": "classification", "num_classes": 4},
        },
    )
    model_dir = Path(model.save_pretrained(str(root / "model")))
    rng = np.random.default_rng(0)
    video = root / "clip01.mp4"
    write_video(video, rng.integers(0, 255, (30, 48, 64, 3), dtype=np.uint8), fps=10)
    other_boxes = root / "other.csv"
    other_boxes.write_text("someone_else,1,0.1,0.1,0.5,0.9,,0.95\n")
    two_boxes = root / "two.csv"
    two_boxes.write_text("a,1,0.1,0.1,0.5,0.9,,0.95\nb,1,0.1,0.1,0.5,0.9,,0.95\n")
    bad_row = root / "bad_row.csv"
    bad_row.write_text("clip01,1,0.1,0.1,0.5,0.9,,0.95\nclip01,2,0.1,nan,0.5,0.9,,0.9\n")
    corrupt = root / "corrupt_model"
    corrupt.mkdir()
    (corrupt / "config.json").write_text((model_dir / "config.json").read_text())
    weights = (model_dir / "model.safetensors").read_bytes()
    (corrupt / "model.safetensors").write_bytes(weights[: len(weights) // 3])
    bad_json = root / "bad_json_model"
    bad_json.mkdir()
    (bad_json / "config.json").write_text("{oops")
    (bad_json / "model.safetensors").write_bytes(weights)
    bad_types = root / "typed_model"  # a record whose field has the wrong type
    bad_types.mkdir()
    record = json.loads((model_dir / "config.json").read_text())
    record["model"]["num_heads"] = "three"
    (bad_types / "config.json").write_text(json.dumps(record))
    (bad_types / "model.safetensors").write_bytes(weights)
    bad_range = root / "range_model"
    bad_range.mkdir()
    record = json.loads((model_dir / "config.json").read_text())
    record["preprocessing"]["frame_stride"] = 0
    (bad_range / "config.json").write_text(json.dumps(record))
    (bad_range / "model.safetensors").write_bytes(weights)
    not_a_repo = root / "not_a_repo"
    not_a_repo.mkdir()
    (not_a_repo / "notes.txt").write_text("hello")
    bad_weights = root / "detector.pth"
    bad_weights.write_text("not a checkpoint")
    empty = root / "empty.mp4"
    empty.write_bytes(b"")
    text_video = root / "notes.mp4"
    text_video.write_text("this is not a video")
    non_empty = root / "my_stuff"
    non_empty.mkdir()
    (non_empty / "thesis.tex").write_text("precious")
    labelmap = root / "labels.pbtxt"
    labelmap.write_text('item { name: "stand" id: 1 }\nitem { name: "sit" id: 2 }\n')
    gt = root / "gt.csv"
    gt.write_text("v,902,0.1,0.1,0.5,0.9,1\n")
    dets = root / "dets.csv"
    dets.write_text("v,902,0.1,0.1,0.5,0.9,1,0.9\n")
    bad_dets = root / "bad_dets.csv"
    bad_dets.write_text("v,902,0.1,0.1,0.5,0.9,1,0.9\nv,902,0.1,0.1,0.5,inf,1,0.9\n")
    fifo = root / "pipe.mp4"
    os.mkfifo(fifo)
    serve_repo = root / "serve_repo"  # passes the repository check; no server ever starts
    (serve_repo / "m" / "1").mkdir(parents=True)
    (serve_repo / "m" / "config.pbtxt").write_text('backend: "python"\n')
    (serve_repo / "m" / "1" / "model.py").write_text("")
    busy = socket.socket()  # a port held by someone else (an earlier server, any program)
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    request.addfinalizer(busy.close)
    classifier = tiny_model(
        num_frames=4, image_size=32, heads={"kinetics": {"task": "classification", "num_classes": 4}}
    )
    classifier_dir = Path(classifier.save_pretrained(str(root / "classifier")))
    empty_folder = root / "no_videos"
    empty_folder.mkdir()
    return {
        "classifier": classifier_dir,
        "empty_folder": empty_folder,
        "model": model_dir,
        "video": video,
        "other_boxes": other_boxes,
        "two_boxes": two_boxes,
        "bad_row": bad_row,
        "corrupt": corrupt,
        "bad_json": bad_json,
        "bad_types": bad_types,
        "bad_range": bad_range,
        "not_a_repo": not_a_repo,
        "bad_weights": bad_weights,
        "empty": empty,
        "text_video": text_video,
        "fifo": fifo,
        "non_empty": non_empty,
        "labelmap": labelmap,
        "gt": gt,
        "dets": dets,
        "bad_dets": bad_dets,
        "serve_repo": serve_repo,
        "busy_port": busy.getsockname()[1],
        "pid": os.getpid(),  # the holder of busy_port
        "root": root,
    }


DETECT = ["detect", "{video}", "--model", "{model}", "--no-progress"]
CLASSIFY = ["classify", "{video}", "--model", "{model}", "--no-progress"]
EXPORT = ["export", "{model}", "--out", "new", "--no-progress"]
DEMO = ["demo", "--model", "{model}", "--no-examples"]
TYPED = "config.json: model.num_heads must be a positive integer, got 'three'"

# (id, argv, message fragment): every row must exit 1 with that fragment on stderr.
ROWS = [
    ("boxes_of_another_video", [*DETECT, "--boxes", "{other_boxes}"],
     "--boxes: {other_boxes} has no rows for video id 'clip01'; it holds 1 video id(s): "
     "someone_else (or pass --video-id ID)"),
    ("boxes_video_id_not_in_file", [*DETECT, "--boxes", "{two_boxes}", "--video-id", "c"],
     "no rows for video id 'c'; it holds 2 video id(s): a, b"),
    ("boxes_malformed_row", [*DETECT, "--boxes", "{bad_row}"], "bad_row.csv:2: box coordinates"),
    ("boxes_missing_file", [*DETECT, "--boxes", "{root}/nope.csv"], "--boxes: AVA person-box CSV not found"),
    ("every_below_frame_period", [*DETECT, "--every", "0.05"],
     "--every 0.05 is shorter than the frame period 0.1 s of this 10-fps video"),
    ("every_negative", [*DETECT, "--every", "-1"], "--every -1.0: must be a positive number"),
    ("threshold_out_of_range", [*DETECT, "--threshold", "1.5"], "--threshold must be in [0, 1]"),
    ("track_classification_model", ["detect", "{video}", "--model", "{classifier}", "--track"],
     "--track follows the people a detection head scores; these weights have only classification heads"),
    ("track_fps_zero", [*DETECT, "--track", "--track-fps", "0"], "--track-fps 0.0: must be a positive number"),
    ("timeline_threshold_negative", [*DETECT, "--track", "--timeline-threshold", "-0.2"],
     "--timeline-threshold -0.2: must be a number >= 0 and <= 1"),
    ("off_threshold_negative", [*DETECT, "--track", "--off-threshold", "-0.1"],
     "--off-threshold -0.1: must be a number >= 0"),
    ("off_threshold_above_on", [*DETECT, "--track", "--off-threshold", "0.7"],
     "--off-threshold 0.7: must be a number >= 0 and <= 0.5 (the on threshold)"),
    ("min_duration_negative", [*DETECT, "--track", "--min-duration", "-1"],
     "--min-duration -1.0: must be a number >= 0"),
    ("max_gap_negative", [*DETECT, "--track", "--max-gap", "-2"], "--max-gap -2.0: must be a number >= 0"),
    ("timeline_without_track", [*DETECT, "--timeline", "t.csv"], "--timeline needs --track"),
    ("person_ids_without_boxes", [*DETECT, "--track", "--boxes-person-ids"],
     "--boxes-person-ids needs --boxes GROUND_TRUTH.csv"),
    ("timeline_bad_suffix", [*DETECT, "--track", "--timeline", "t.txt"],
     "--timeline t.txt: expected a .csv or .json file name"),
    ("batch_size_zero", [*DETECT, "--batch-size", "0"], "--batch-size must be >= 1"),
    ("watch_unsupported_scheme", ["watch", "ftp://127.0.0.1/live", "--model", "{model}"],
     "source 'ftp://127.0.0.1/live': unsupported scheme ftp://"),
    ("watch_unreachable", ["watch", "tcp://127.0.0.1:9", "--model", "{model}", "--timeout", "2"],
     "cannot open stream tcp://127.0.0.1:9"),
    ("watch_every_zero", ["watch", "{video}", "--model", "{model}", "--every", "0"],
     "--every 0.0: must be a positive number"),
    ("watch_missing_file", ["watch", "{root}/missing.mp4", "--model", "{model}"], "video file not found"),
    ("watch_out_not_mp4", ["watch", "{video}", "--model", "{model}", "--out", "live.avi"],
     "--out live.avi: expected a .mp4 file name"),
    ("watch_triton_without_url", ["watch", "{video}", "--backend", "triton"],
     "--backend triton needs --url"),
    ("video_missing", ["detect", "{root}/missing.mp4", "--model", "{model}"], "video not found"),
    ("video_is_folder", ["detect", "{root}", "--model", "{model}"], "{root} names many videos: pass --out-dir OUT"),
    ("folder_empty", ["detect", "{empty_folder}", "--model", "{model}", "--out-dir", "out"],
     "VIDEO {empty_folder}: the folder holds no videos (.mp4, .avi"),
    ("glob_matches_nothing", ["detect", "{root}/*.mkv", "--model", "{model}", "--out-dir", "out"],
     "VIDEO '{root}/*.mkv': the pattern matches no files"),
    ("folder_with_json", ["detect", "{root}/*.mp4", "--model", "{model}", "--out-dir", "out", "--json", "x.json"],
     "--json is for one video; a folder run writes to --out-dir"),
    ("resume_single_video", [*DETECT, "--resume"], "--resume skips videos already in --out-dir: it needs a folder run"),
    ("video_empty", ["detect", "{empty}", "--model", "{model}"], "file is empty (0 bytes)"),
    ("video_not_a_video", ["detect", "{text_video}", "--model", "{model}"], "could not open as a video"),
    ("video_fifo", ["detect", "{fifo}", "--model", "{model}"], "not a regular file (a pipe or device)"),
    ("model_missing_local", ["detect", "{video}", "--model", "./nonexist"], "model folder not found: ./nonexist"),
    ("model_bad_repo_id", ["detect", "{video}", "--model", "org/na me!"], "neither a model folder nor a valid Hub repo id"),
    ("model_truncated_weights", ["detect", "{video}", "--model", "{corrupt}"], "truncated or corrupt"),
    ("model_invalid_json", ["detect", "{video}", "--model", "{bad_json}"], "config.json: not valid JSON"),
    ("model_repo_not_cached", ["detect", "{video}", "--model", "org/notcached", "--cache-dir", "{root}/hub"],
     "Hub repo org/notcached (revision main) is not in the local cache {root}/hub"),
    ("model_revision_not_cached", ["classify", "{video}", "--model", "org/notcached", "--revision", "v2", "--cache-dir", "{root}/hub"],
     "Hub repo org/notcached (revision v2) is not in the local cache {root}/hub"),
    ("device_unavailable", [*DETECT, "--device", "cuda"], "--device 'cuda': CUDA is not available here"),
    ("device_unknown", [*DETECT, "--device", "gpu"], "--device 'gpu' is not a torch device"),
    ("person_detector_bad_file", [*DETECT, "--person-detector", "{bad_weights}"],
     "--person-detector {bad_weights}: cannot read person-detector weights"),
    ("person_detector_unknown", [*DETECT, "--person-detector", "yolo"], "--person-detector yolo: unknown person detector"),
    ("json_is_folder", [*DETECT, "--json", "{root}"], "--json {root} is a folder"),
    ("csv_unwritable", [*DETECT, "--csv", "/sys/cofin_out.csv"], "--csv /sys/cofin_out.csv: not writable"),
    ("csv_parent_missing", [*DETECT, "--csv", "{root}/no/such/out.csv"], "folder {root}/no/such does not exist"),
    ("out_not_mp4", [*DETECT, "--out", "annotated.avi"], "--out annotated.avi: expected a .mp4 file name"),
    ("video_id_with_comma", [*DETECT, "--video-id", "a,b", "--csv", "x.csv"], "--video-id 'a,b'"),
    ("head_unknown", [*DETECT, "--head", "nope"], "--head 'nope': no such head; the weights have ava (detection), kinetics (classification)"),
    ("classify_detection_head", [*CLASSIFY, "--head", "ava"], "--head 'ava' is a detection head: use cofin detect for it, or pass --head 'kinetics'"),
    ("classify_top_k_zero", [*CLASSIFY, "--top-k", "0"], "--top-k must be >= 1"),
    ("classify_json_is_folder", [*CLASSIFY, "--json", "{root}"], "--json {root} is a folder"),
    ("synth_out_is_file", ["synth", "--out", "{gt}"], "--out {gt} is a file; give a folder"),
    ("synth_out_not_empty", ["synth", "--out", "{non_empty}"], "is a non-empty folder that holds no synthetic dataset"),
    ("synth_unknown_preset", ["synth", "--preset", "huge", "--out", "new"], "--preset huge: unknown; choose one of tiny, bench"),
    ("train_missing_dataset_root", ["train", "synthetic_tiny", "--set", "datasets.ava.root=/missing/dir"],
     "datasets.ava.root=/missing/dir does not exist; point it at a ava-format dataset folder, or drop that override"),
    ("train_unknown_preset", ["train", "no_such_preset"], "no_such_preset"),
    ("train_unknown_key", ["train", "synthetic_tiny", "--set", "run.colour=red"], "colour"),
    ("train_out_dir_unwritable", ["train", "synthetic_tiny", "--set", "run.out_dir=/sys/cofin_run"], "run.out_dir=/sys/cofin_run: not writable"),
    ("eval_missing_model", ["eval", "{root}/no_model"], "does not exist"),
    ("eval_repo_not_cached", ["eval", "org/notcached", "--cache-dir", "{root}/hub"],
     "Hub repo org/notcached (revision main) is not in the local cache {root}/hub"),
    ("push_bad_repo_id", ["push", "{model}", "org/na me!"],
     "repo id 'org/na me!' is not a valid Hub repo id; use 'namespace/name'"),
    ("push_repo_id_without_namespace", ["push", "{model}", "cofin-tiny"], "has no namespace; use 'namespace/name'"),
    ("push_missing_model_folder", ["push", "{root}/no_model", "org/name"],
     "model folder not found: {root}/no_model (pass a folder written by save_pretrained"),
    ("push_truncated_weights", ["push", "{corrupt}", "org/name"], "truncated or corrupt"),
    ("push_invalid_record", ["push", "{bad_json}", "org/name"], "config.json: not valid JSON"),
    ("push_offline", ["push", "{model}", "org/name"], "HF_HUB_OFFLINE is set, so nothing can be uploaded; unset it"),
    ("eval_ava_missing_gt", ["eval-ava", "--groundtruth", "{root}/no.csv", "--detections", "{gt}", "--labelmap", "{labelmap}"], "not found"),
    ("eval_ava_malformed_detections", ["eval-ava", "--groundtruth", "{gt}", "--detections", "{bad_dets}", "--labelmap", "{labelmap}"], "bad_dets.csv:2: box coordinates must be finite"),
    ("eval_ava_json_is_folder", ["eval-ava", "--groundtruth", "{gt}", "--detections", "{dets}", "--labelmap", "{labelmap}", "--json", "{root}"], "--json {root} is a folder"),
    ("eval_ava_plot_not_png", ["eval-ava", "--groundtruth", "{gt}", "--detections", "{dets}", "--labelmap", "{labelmap}", "--plot", "ap.pdf"], "--plot ap.pdf: expected a .png file name"),
    ("export_unknown_head", [*EXPORT, "--heads", "ava", "nope"],
     "--heads 'nope': no such head; the model has ava (detection), kinetics (classification)"),
    ("export_opset_too_old", [*EXPORT, "--opset", "15"],
     "--opset 15 is refused: RoiAlign(aligned=True) needs opset >= 16"),
    ("export_opset_not_run_by_onnxruntime", [*EXPORT, "--opset", "22"],
     "--opset 22 is refused: onnxruntime 1.32 cannot run RoiAlign at opsets 22-23; use 18..21"),
    ("export_out_is_file", ["export", "{model}", "--out", "{gt}"], "--out {gt} is a file; give a folder for the export"),
    ("export_out_foreign_folder", ["export", "{model}", "--out", "{non_empty}"],
     "--out {non_empty} is a non-empty folder that holds no cofin export (no cofin_export.json)"),
    ("export_tensorrt_without_gpu", [*EXPORT, "--format", "tensorrt"], "--format tensorrt needs "),
    ("export_unknown_format", [*EXPORT, "--format", "tflite"], "--format tflite: choose one of onnx, tensorrt"),
    ("export_other_clip_shape", [*EXPORT, "--image-size", "64"],
     "--image-size 64: the exported graphs have a fixed clip shape, the model record's 4 frames x 32x32 px"),
    ("export_missing_model", ["export", "{root}/no_model", "--out", "new"], "model folder not found: {root}/no_model"),
    # The model record's field types and ranges, through every surface that loads a model.
    ("record_type_detect", ["detect", "{video}", "--model", "{bad_types}"], TYPED),
    ("record_type_classify", ["classify", "{video}", "--model", "{bad_types}"], TYPED),
    ("record_type_export", ["export", "{bad_types}", "--out", "new"], TYPED),
    ("record_type_push", ["push", "{bad_types}", "org/name"], TYPED),
    ("record_type_serve_build", ["serve", "build", "{bad_types}", "--out", "repo"], TYPED),
    ("record_type_demo", ["demo", "--model", "{bad_types}", "--no-examples"], TYPED),
    ("record_type_eval", ["eval", "{bad_types}"], TYPED),
    ("record_range_detect", ["detect", "{video}", "--model", "{bad_range}"],
     "config.json: preprocessing.frame_stride must be a positive integer, got 0"),
    # Serving and the demo.
    ("serve_build_missing_model", ["serve", "build", "{root}/no_model", "--out", "repo"], "{root}/no_model"),
    ("serve_build_out_foreign_folder", ["serve", "build", "{model}", "--out", "{non_empty}"], "holds no cofin repository"),
    ("serve_build_bad_buckets", ["serve", "build", "{model}", "--out", "repo", "--box-buckets", "8,x"], "--box-buckets '8,x'"),
    ("serve_start_not_a_repository", ["serve", "start", "{not_a_repo}"],
     "{not_a_repo} is not a Triton model repository"),
    ("serve_start_missing_repository", ["serve", "start", "{root}/no_repo"], "model repository not found"),
    ("serve_port_in_use", ["serve", "start", "{serve_repo}", "--grpc-port", "{busy_port}"],
     ", pid {pid}); stop the process holding it or pass --grpc-port with a free port"),
    ("demo_triton_without_url", [*DEMO, "--backend", "triton"], "--backend triton needs --url"),
    ("demo_url_without_triton", [*DEMO, "--url", "grpc://127.0.0.1:8001"], "--url is only for --backend triton"),
    ("demo_port_out_of_range", [*DEMO, "--port", "70000"], "--port must be in 1..65535"),
    ("demo_device_unknown", [*DEMO, "--device", "tpu"], "--device 'tpu' is not a torch device"),
]  # fmt: skip


def _files(*roots: Path) -> set[Path]:
    return {p for root in roots for p in root.rglob("*") if not p.is_fifo()}


@pytest.mark.parametrize(("argv", "message"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_table(inputs, tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    fill = {key: str(value) for key, value in inputs.items()}
    argv = [arg.format(**fill) for arg in argv]
    before = _files(tmp_path, inputs["root"])
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 1, captured
    assert message.format(**fill) in captured.err, captured.err
    assert "Traceback" not in captured.err
    lines = [line for line in captured.err.splitlines() if line.startswith("cofin ")]
    assert len(lines) == 1, captured.err
    assert _files(tmp_path, inputs["root"]) == before  # nothing written anywhere
