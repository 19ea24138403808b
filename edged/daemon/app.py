"""Composition root: the one place that builds and wires frd's parts.

The command line's photo commands and each camera's child process build their pipeline here too, so the
daemon's own parts (the bus, Home Assistant, fleet sync, the command table, the workers) are imported by the
functions that build them: a camera process or ``frd enroll`` loads none of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import DEFAULT_DETECTOR, DEFAULT_STRICTNESS, DETECT_MAX_SIDE, DETECTORS, RecognitionConfig, default
from ..core.paths import default_gallery
from ..store.gallery import Gallery
from ..store.space import describe_space, embedding_space
from ..vision.align import Aligner
from ..vision.detect.hog import HogDetector
from ..vision.detect.yunet import YuNetDetector
from ..vision.embed import Manifest, TFLiteEmbedder
from ..vision.match import Matcher, load_calibration
from ..vision.modelfiles import MODEL_MANIFEST, PREDICTOR_FILE, model_dir
from ..vision.motion import MotionGate
from ..vision.pipeline import Pipeline
from ..vision.quality import Gate

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from ..config import CameraConfig, Config
    from ..core.topics import Topics
    from ..integrations.fleet.sync import FleetSync
    from ..integrations.ha import HomeAssistant
    from ..mqtt.bus import BusLike
    from ..service.people import People
    from ..store.unknowns import UnknownFaces
    from ..video.camproc import Reader
    from ..video.events import EventEngine
    from ..video.track import FaceTracker
    from ..video.worker import CameraWorker, IgnoreCheck
    from .daemon import Daemon
    from .notify import Notifier

log = logging.getLogger(__name__)

#: Still images are shrunk to this size for detection only ...
STILL_MAX_SIDE = 1280
#: ... and HOG upsamples them once (video: ``recognition.upsample``).
STILL_UPSAMPLE = 1


def build_pipeline(
    *,
    still: bool,
    threshold: float | None = None,
    strictness: str = DEFAULT_STRICTNESS,
    upsample: int | None = None,
    threads: int = default(RecognitionConfig, "threads"),
    min_face_px: int = default(RecognitionConfig, "min_face_px"),
    min_face_frac: float = default(RecognitionConfig, "min_face_frac"),
    calibrated: bool = True,
    detect_max_side: int | None = DETECT_MAX_SIDE,
    detector: str = DEFAULT_DETECTOR,
    reference_kernels: bool = False,
    crops: bool = False,
) -> Pipeline:
    """The recognition pipeline; ``still`` picks detector settings for photos (:data:`STILL_UPSAMPLE`) or video
    (``recognition.upsample``); ``upsample`` overrides either (HOG).

    ``detector``: ``hog`` (dlib) or ``yunet`` (OpenCV; its boxes mapped to HOG's shape for alignment).

    Video frames are reduced to ``detect_max_side`` on the long side for detection only (None: not
    reduced); photos to ``STILL_MAX_SIDE``.

    The matcher normalises scores with the model's shipped calibration and names a face from the
    ``strictness`` level's threshold for the gallery's size, unless ``threshold`` is given.
    ``calibrated=False`` (only ``edged.tools.calibrate``, which makes the calibration) gives a matcher
    that names nobody. ``reference_kernels``: TFLite's portable kernels (:func:`edged.vision.embed.load_interpreter`).
    ``crops``: the inputs are pre-cropped faces (``--aligned``), matched with their own calibration.
    """
    embedder = TFLiteEmbedder(threads=threads, reference_kernels=reference_kernels)
    if detector == "yunet":  # YuNet has no upsampling; it reduces large images to its own working size
        photo = YuNetDetector(min_face_px=min_face_px, min_face_frac=min_face_frac)
        video = photo.with_max_side(detect_max_side)
    elif detector == "hog":
        photo = HogDetector(upsample=STILL_UPSAMPLE if upsample is None else upsample, min_face_px=min_face_px,
                         min_face_frac=min_face_frac, max_side=STILL_MAX_SIDE)
        video_upsample = default(RecognitionConfig, "upsample") if upsample is None else upsample
        video = HogDetector(upsample=video_upsample, min_face_px=min_face_px, min_face_frac=min_face_frac,
                            max_side=detect_max_side)
    else:
        raise ValueError(f"unknown detector {detector!r} (one of {', '.join(DETECTORS)})")
    aligner = Aligner(model_dir() / PREDICTOR_FILE)
    if calibrated:
        matcher = Matcher(load_calibration(embedder.sha256, crops=crops), strictness, threshold)
    else:
        matcher = Matcher(None, threshold=float("inf"))
    return Pipeline(photo if still else video, aligner, embedder, matcher, still_detector=photo)


def pipeline_from_config(rc: RecognitionConfig) -> Pipeline:
    """``frd run``'s video pipeline from the config's ``recognition`` section (the daemon's and each camera
    process's). Sets OpenCV's threads for the process to ``recognition.threads``: its own pool otherwise spins
    on every core for each small call (colour conversion, resizing, YuNet), which cost an idle camera 3 % of
    a core, and a camera's work is meant to run on ``threads`` cores, like TFLite's."""
    import cv2

    cv2.setNumThreads(rc.threads)
    return build_pipeline(still=False, threshold=rc.threshold, strictness=rc.strictness, upsample=rc.upsample,
                          threads=rc.threads, min_face_px=rc.min_face_px, min_face_frac=rc.min_face_frac,
                          detect_max_side=rc.detect_max_side, detector=rc.detector)


def camera_child(camera: CameraConfig, rc: RecognitionConfig, log_level: str,
                 reader: Callable[[CameraConfig], Reader] | None, results: Connection, control: Connection) -> None:
    """A camera's child process (several cameras as processes, :mod:`edged.video.camproc`): its own pipeline, tracker
    and camera reader, built here like the daemon's, then :func:`edged.video.camproc.serve` until the daemon stops it.

    ``reader``: a picklable callable that makes the camera's frames from its config (benchmarks replay frames
    from memory, unpaced); None: the camera's source through :class:`~edged.vision.camera.CameraReader`.
    """
    import sys

    from ..core.logs import setup
    from ..video.camproc import serve
    from ..vision.camera import CameraReader

    setup(log_level, daemon=True)
    pipeline = pipeline_from_config(rc)  # OpenCV's and TFLite's threads: recognition.threads
    tracker = build_tracker(pipeline, rc, camera.detect_max_side)
    source = reader(camera) if reader is not None else CameraReader(camera.name, camera.source, loop=camera.loop,
                                                                     fps_limit=camera.fps_limit)
    try:
        sys.exit(serve(source, tracker, pipeline.matcher, results, control))
    except Exception:
        log.exception("camera %s: a frame failed", camera.name)
        sys.exit(1)


def camera_processes(cfg: Config, gallery: Callable[[], dict], log_level: str,
                     reader: Callable[[CameraConfig], Reader] | None = None) -> list:
    """One :class:`~edged.video.camproc.CameraProcess` per configured camera, each running :func:`camera_child`
    (not started); ``gallery()`` is what the matcher is given (the people service's ``gallery.active``).
    """
    from ..video.camproc import CameraProcess

    return [CameraProcess(c.name, camera_child, (c, cfg.recognition, log_level, reader), gallery)
            for c in cfg.cameras]


def camera_pipeline(pipeline: Pipeline, threads: int = default(RecognitionConfig, "threads")) -> Pipeline:
    """A camera's own copy of the parts that are not thread-safe, for a camera on a thread of its own: a
    TFLite interpreter and a detector instance of its own; the aligner (dlib's shape predictor is read
    only) and the matcher (it swaps in a new gallery as one object) are shared.
    """
    embedder = TFLiteEmbedder(threads=threads)
    if embedder.sha256 != pipeline.embedder.sha256:
        raise ValueError(f"a camera's interpreter loaded model {embedder.sha256[:12]}, the pipeline's is "
                         f"{pipeline.embedder.sha256[:12]}")
    detector = pipeline.detector.with_max_side(pipeline.detector.max_side)
    return Pipeline(detector, pipeline.aligner, embedder, pipeline.matcher, still_detector=pipeline.still_detector)


def shipped_space() -> str:
    """The embedding space of the shipped model and chip, read from the model's manifest without loading the
    model (``frd gallery list``, the ignore list's command line)."""
    from ..vision.align import chip_id

    return embedding_space(Manifest.load(model_dir() / MODEL_MANIFEST).sha256, chip_id())


def open_gallery(path: Path | None, pipeline: Pipeline, create: bool = True, **limits: int) -> Gallery:
    """Load the gallery, re-embed people enrolled under another model, and hand it to the matcher.

    ``create=False``: a missing folder is an empty gallery, not a new folder (readers).
    ``limits``: ``max_people`` and ``max_samples`` of :class:`Gallery`.
    """
    model = pipeline.embedder
    gallery = Gallery(path or default_gallery(), embedding_space(model.sha256, pipeline.aligner.chip_id),
                      create=create, **limits)
    redone = gallery.reembed(model.embed)
    if redone:
        log.warning("re-embedded %s with model %s", ", ".join(redone), model.name)
    for name in gallery.stale():
        log.warning("%s was enrolled with another model or chip cut (%s; this frd: %s) and has no chips of "
                    "today's cut to embed again: enroll again", name,
                    describe_space(gallery.people[name].model_sha256), describe_space(gallery.model_sha256))
    pipeline.matcher.set_gallery(gallery.active())
    return gallery


def build_tracker(pipeline: Pipeline, rc: RecognitionConfig, detect_max_side: int | None = None
                  ) -> FaceTracker:
    """One camera's video path (detect every few frames while the picture changes, follow, embed until
    settled): the daemon, ``frd recognize VIDEO`` and the accuracy tests all get theirs here. Shares the
    pipeline's parts; ``detect_max_side`` is a camera's own working size for detection (None: the
    pipeline's)."""
    from ..video.track import FaceTracker

    detector = pipeline.detector
    if detect_max_side is not None and detect_max_side != detector.max_side:
        detector = detector.with_max_side(detect_max_side)
    m = rc.motion
    motion = MotionGate(m.threshold, m.check_every_s, skip=m.enabled)  # disabled: never skips, still says where
    q = rc.quality_gate  # video: faces under min_face_px / min_face_frac are followed and counted, never named
    gate = (Gate(max(q.min_face_px, rc.min_face_px), q.min_sharpness, q.max_yaw, rc.min_face_frac, q.max_yaw_yunet)
            if q.enabled else Gate(rc.min_face_px, 0.0, float("inf"), rc.min_face_frac, float("inf")))
    return FaceTracker(detector, pipeline.aligner, pipeline.embedder, pipeline.matcher, detect_every=rc.detect_every,
                       settle_frames=rc.vote_frames, reverify_frames=rc.reverify_frames, motion=motion, gate=gate,
                       min_face_px=rc.follow_min_face_px)


def build_engine(camera: str, rc: RecognitionConfig) -> EventEngine:
    """One camera's event rules (vote per track, cooldowns) from the recognition config."""
    from ..video.events import EventEngine

    return EventEngine(camera, rc.vote_frames, rc.vote_window, rc.cooldown_s, rc.unknown_cooldown_s)


def open_people(path: Path | None, pipeline: Pipeline, *, keep_crops: bool, cameras: list[str] | None = None,
                create: bool = True, **limits: int) -> People:
    """The people service over the gallery at ``path`` (see :func:`open_gallery`), for the CLI and ``frd run``."""
    from ..service.people import People

    return People(pipeline, open_gallery(path, pipeline, create=create, **limits), keep_crops=keep_crops,
                  cameras=cameras or [])


def home_assistant(cfg: Config, topics: Topics, pipeline: Pipeline, people: People, bus: BusLike) -> HomeAssistant:
    """Home Assistant discovery, a listener of the people service (``homeassistant.discovery``)."""
    from .. import __version__
    from ..integrations.discovery import DiscoveryDevice
    from ..integrations.ha import HomeAssistant

    device = DiscoveryDevice(topics, __version__, pipeline.embedder.name,
                             off_delay_s=cfg.homeassistant.presence_off_delay_s,
                             face_image=cfg.homeassistant.face_image, snapshot=cfg.snapshot.enabled,
                             format=cfg.homeassistant.discovery_format)
    ha = HomeAssistant(device, bus, [c.name for c in cfg.cameras], people.names)
    people.subscribe(ha.on_change)
    return ha


def fleet_sync(cfg: Config, topics: Topics, pipeline: Pipeline, people: People, bus: BusLike) -> FleetSync:
    """Fleet gallery sync, a listener and a guard of the people service (``fleet.sync``)."""
    from ..integrations.fleet.ledger import LEDGER_FILE, Ledger
    from ..integrations.fleet.sync import FleetSync
    from ..integrations.fleet.trust import trust_from_config

    trust = trust_from_config(cfg.fleet, cfg.device_id)
    if trust.signing_key is None:
        log.warning("fleet.sync is on without fleet.signing_key_file: this device's enrollments stay local")
    if not trust.devices and not trust.authorities:
        log.warning("fleet.sync is on without fleet.trusted_keys or fleet.authority_keys: no shared person "
                    "will be accepted")
    sync = FleetSync(people, bus, topics, trust, embedding_dim=pipeline.embedder.manifest.embedding_dim,
                     ledger=Ledger(people.gallery.root / LEDGER_FILE))
    people.add_guard(sync.check_owner)
    people.subscribe(sync.on_change)
    return sync


def camera_mode(cfg: Config) -> str:
    """How the cameras run. Several cameras as processes (the default): each camera's reader and tracker in a
    child process of its own (edged/video/camproc.py), the rest of its worker here, under a lock of its own. As
    threads: a thread each, each with its own interpreter and detector under a lock of its own, so cameras run
    on every core and never wait for each other; enrollment keeps the pipeline under the people service's lock.
    One camera: it shares the pipeline (and that lock) with enrollment, as it always did."""
    from .daemon import LOOP, PROCESSES, THREADS

    if len(cfg.cameras) <= 1:
        return LOOP
    return PROCESSES if cfg.recognition.camera_mode == "processes" else THREADS


def camera_readers(cfg: Config, mode: str, people: People, readers: list | None) -> list:
    """The cameras' readers: the given ones (tests, benchmarks), else the configured cameras, read here
    (:class:`~edged.vision.camera.CameraReader`) or, as processes, each in a child process that reads its own."""
    from .daemon import PROCESSES

    if mode == PROCESSES:
        if readers is not None:
            raise ValueError("cameras as processes read their own sources: give no readers (or camera_mode: threads)")
        return camera_processes(cfg, people.gallery.active, logging.getLevelName(logging.getLogger().level).lower())
    if readers is None:
        from ..vision.camera import CameraReader

        readers = [CameraReader(c.name, c.source, loop=c.loop, fps_limit=c.fps_limit) for c in cfg.cameras]
    return readers


def camera_workers(cfg: Config, mode: str, pipeline: Pipeline, people: People, ignore: IgnoreCheck,
                   unknowns: UnknownFaces | None) -> dict[str, CameraWorker]:
    """One worker per camera (frame → tracker → ignore list → unknown faces → event rules); as processes, the
    tracker is the child's."""
    from ..video.worker import CameraWorker
    from .daemon import LOOP, PROCESSES, THREADS

    rc = cfg.recognition

    def tracker(c: CameraConfig) -> FaceTracker | None:
        if mode == PROCESSES:
            return None
        return build_tracker(camera_pipeline(pipeline, rc.threads) if mode == THREADS else pipeline, rc,
                             c.detect_max_side)

    return {c.name: CameraWorker(c.name, tracker(c), build_engine(c.name, rc),
                                 lock=people.lock if mode == LOOP else threading.Lock(),
                                 captures=people.captures, ignore=ignore, unknowns=unknowns,
                                 keep_chips=cfg.homeassistant.face_image)
            for c in cfg.cameras}


def build_daemon(cfg: Config, *, pipeline: Pipeline, people: People, bus: BusLike, readers: list | None = None,
                 handler_options: dict, notifier: Notifier | None = None) -> Daemon:
    """Wire the daemon's parts: trackers, event rules, commands, and Home Assistant and fleet sync as
    listeners of the people service.

    ``frd run`` gives it the real bus; tests give it ``tests/fakebus.py``'s bus and cameras (``readers``).
    ``readers`` None: the configured cameras (:func:`camera_readers`).
    """
    from ..config import topics_for
    from ..mqtt.commands import CommandHandler, Routes
    from ..store.ignore import IGNORE_FILE, IgnoreList
    from ..store.unknowns import UnknownFaces
    from ..video.worker import IgnoreCheck
    from .daemon import Daemon
    from .notify import Notifier

    topics = topics_for(cfg)
    components = ([home_assistant(cfg, topics, pipeline, people, bus)] if cfg.homeassistant.discovery else []) + (
        [fleet_sync(cfg, topics, pipeline, people, bus)] if cfg.fleet.sync else [])
    daemon: Daemon | None = None

    def status() -> dict:  # the daemon is built below, with the handler that answers "status"
        assert daemon is not None
        return daemon.status()

    # 0: no stranger's face is held, not even for a moment
    unknowns = UnknownFaces(cfg.unknown_faces.keep, cfg.unknown_faces.ttl_s) if cfg.unknown_faces.keep > 0 else None
    ignored = IgnoreList(people.gallery.root / IGNORE_FILE, people.gallery.model_sha256)
    m = pipeline.matcher
    ignore = IgnoreCheck(ignored, Matcher(m.calibration, m.strictness, m.fixed_threshold))  # judged like a person
    mode = camera_mode(cfg)
    readers = camera_readers(cfg, mode, people, readers)
    workers = camera_workers(cfg, mode, pipeline, people, ignore, unknowns)
    def snapshot(camera: str | None) -> dict:  # cmd/snapshot: the daemon's cameras
        assert daemon is not None
        return daemon.snapshot(camera)

    handler = CommandHandler(Routes(people, status, unknowns, ignored, snapshot), topics=topics, **handler_options)
    housekeeping = [ignored.reload_if_changed] + ([unknowns.expire] if unknowns is not None else [])
    daemon = Daemon(
        device_id=cfg.device_id, topics=topics, pipeline=pipeline, people=people, readers=readers,
        bus=bus, notifier=notifier or Notifier(), handler=handler, status_interval_s=cfg.status_interval_s,
        components=components, workers=workers, housekeeping=housekeeping,
        face_image=cfg.homeassistant.face_image, camera_mode=mode,
        snapshot_max_side=cfg.snapshot.max_side if cfg.snapshot.enabled else None,
        max_queued_bytes=cfg.security.max_queued_bytes,
    )

    def ignore_changed() -> None:  # a face ignored or no longer ignored: every face is judged afresh
        with people.lock:
            ignore.refresh()
            daemon.reset_workers()

    ignored.on_change(ignore_changed)
    if unknowns is not None and cfg.homeassistant.face_image:
        unknowns.on_forget(daemon.clear_faces)  # a forgotten or ignored face is shown no more
    return daemon


def warn_other_stack(pipeline: Pipeline) -> None:
    """Say once, at start, when this install runs other versions of what decides an embedding than the calibration
    was made with (an install outside the lock): the strictness figures were measured on those."""
    from ..core.stack import differences, embedding_stack

    cal = pipeline.matcher.calibration
    moved = differences(cal.stack, embedding_stack()) if cal is not None and cal.stack else []
    if moved:
        log.warning("this install runs %s: the calibration's stranger rates were measured with the recorded "
                    "versions (the lock, uv.lock); recognition works, but its figures are not guaranteed here. "
                    "Install from the lock, or re-measure with scripts/upgrade-stack", "; ".join(moved))


def run_daemon(config_path: Path | None, log_level: str | None = None) -> int:
    """``frd run``: build every part from the config and run until stopped.

    ``log_level`` (``--log-level``) overrides the config's ``log_level``.
    """
    from ..config import (
        NO_CAMERAS,
        check_tls_key,
        client_id_for,
        load_config,
        resolve_password,
        security_warnings,
        topics_for,
    )
    from ..core.errors import FrdError
    from ..core.logs import set_level
    from ..integrations.fleet.record import MAX_PAYLOAD as MAX_FLEET_RECORD
    from ..mqtt.bus import PACKET_SLACK, Bus, BusSettings
    from ..mqtt.commands import options_from_config

    cfg = load_config(config_path)
    set_level(log_level or cfg.log_level)
    if not cfg.cameras:
        raise FrdError(f"{config_path}: {NO_CAMERAS}")
    handler_options = options_from_config(cfg, cfg.gallery.path)  # before the model: a missing key fails fast
    check_tls_key(cfg)  # so do the other secrets
    password = resolve_password(cfg)
    for warning in security_warnings(cfg, password=bool(password)):
        log.warning("%s", warning)
    rc = cfg.recognition
    pipeline = pipeline_from_config(rc)
    warn_other_stack(pipeline)
    people = open_people(cfg.gallery.path, pipeline, keep_crops=cfg.gallery.keep_crops,
                         cameras=[c.name for c in cfg.cameras], max_people=cfg.gallery.max_people,
                         max_samples=cfg.gallery.max_samples_per_person)
    m = cfg.mqtt
    largest = max(handler_options["limits"].max_envelope, MAX_FLEET_RECORD)  # the largest message frd reads
    settings = BusSettings(
        host=m.host, port=m.port, client_id=client_id_for(cfg), keepalive=m.keepalive, protocol=m.protocol,
        username=m.username, password=password, tls=m.tls.enabled,
        ca_file=str(m.tls.ca_file) if m.tls.ca_file else None,
        cert_file=str(m.tls.cert_file) if m.tls.cert_file else None,
        key_file=str(m.tls.key_file) if m.tls.key_file else None, tls_insecure=m.tls.insecure,
        session_expiry_s=m.session_expiry_s, offline_queue=m.offline_queue, offline_queue_bytes=m.offline_queue_bytes,
        reconnect_max_s=m.reconnect_max_s, max_packet=largest + PACKET_SLACK,
    )
    daemon = build_daemon(cfg, pipeline=pipeline, people=people, bus=Bus(settings, topics_for(cfg)),
                          handler_options=handler_options)
    return daemon.run()
