"""Who is enrolled: enroll, delete, rename, reload and capture, for the CLI and the MQTT commands alike.

The gallery service. Both ``frd enroll`` / ``frd gallery`` and the daemon's
commands call it, so both refuse the same things with the same words, and an
enrollment lands whole or not at all (one gallery update per request). It
knows nothing about MQTT: whoever must follow the gallery (Home Assistant
discovery, fleet sync, the daemon's retained state) subscribes to its
:class:`Change` announcements, and whoever may refuse a change (fleet sync:
a person another device enrolled) adds a guard.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..core.errors import InputError
from ..core.names import validate_name
from ..store.gallery import Gallery, Person
from ..store.space import describe_space
from ..vision.images import Budget, decode_image
from ..vision.quality import MIN_FACE_PX, assess, enrollment_verdict, photos_advice

if TYPE_CHECKING:
    from ..core.models import Face
    from ..vision.pipeline import Pipeline

log = logging.getLogger(__name__)

ADDED = "added"
UPDATED = "updated"
REMOVED = "removed"
RENAMED = "renamed"
#: the whole gallery was read again (a reload command, SIGHUP): whoever mirrors it republishes everything
RELOADED = "reloaded"
#: Two samples are the same photo when their embeddings are this close (1 - cosine): the same bytes give the
#: same embedding (up to float rounding, ~1e-7), and so does the same photo saved again; two frames of a live
#: camera differ by more (sensor noise alone moves a chip's embedding by ~1e-3). The bound the golden
#: embeddings allow a whole stack to drift (tests/golden_embeddings.py).
SAME_PHOTO = 1e-4
#: How to enroll anyway a face the gallery already names (two people who look alike), said in every refusal.
FORCE_HINT = 'frd enroll --force; MQTT: "force": true'


@dataclass(frozen=True)
class Change:
    """One change of the gallery, announced after it is on disk and in the matcher."""

    kind: str
    name: str | None = None
    new_name: str | None = None  # RENAMED: the name afterwards
    #: the change came from fleet sync (a record another device shared): not to be shared back
    from_fleet: bool = False


Listener = Callable[[Change], None]
#: Called with a name before it is enrolled, renamed or deleted; raises InputError to refuse.
Guard = Callable[[str], None]


@dataclass
class EnrollResult:
    name: str
    added: int = 0
    rejected: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    advice: str | None = None

    def as_dict(self) -> dict:
        return {"name": self.name, "added": self.added, "rejected": self.rejected, "warnings": self.warnings,
                "advice": self.advice}


def renames(before: dict[str, tuple], after: dict[str, tuple], removed: list[str], added: list[str]
            ) -> dict[str, str]:
    """``{old: new}`` for the people who left under one name and came back under another with the very same
    samples (``(updated, sample ids)``: a rename keeps both), so that a rename made with the CLI is followed
    as a rename (Home Assistant moves the entities; the log says "renamed"), not as a removal and a stranger."""
    out: dict[str, str] = {}
    for old in removed:
        new = next((n for n in added if after[n] == before[old] and n not in out.values()), None)
        if new is not None:
            out[old] = new
    return out


def screen(faces: list[tuple[str, Face]], result: EnrollResult) -> list[tuple[str, Face]]:
    """The faces good enough to enroll; the others go to ``result.rejected``, doubts to ``result.warnings``."""
    kept = []
    for label, face in faces:
        why, warnings = enrollment_verdict(assess(face.face_px, face.chip, face.points))
        if why is not None:
            result.rejected.append({"image": label, "reason": why})
            continue
        result.warnings += [{"image": label, "warning": w} for w in warnings]
        kept.append((label, face))
    return kept


@dataclass
class Capture:
    """A pending "enroll from the camera": the frame loop hands it faces until it has enough.

    A frame counts when exactly one of its faces is good enough to enroll (enrollment's size and
    sharpness limits). Faces too small to enroll are left out, not counted: a face far behind the person
    at the camera is not a second candidate. A frame whose only candidate is blurred is skipped, and the
    capture waits for a sharper one (a live camera's next frames usually are), so that the person is
    enrolled from good frames instead of being refused for one bad moment. So is a frame whose only
    candidate the camera's quality gate holds back (turned aside, blurred or small by the video limits):
    a face the daemon would name nobody from is no sample of its person, and a profile enrolled under a
    name matches that person facing the door far less than the frontal face a moment later.
    """

    camera: str
    frames: int
    min_interval_s: float = 0.2
    faces: list[Face] = field(default_factory=list)
    skipped_multi: int = 0
    #: frames skipped because their face could not be enrolled, and the last reason
    skipped_poor: int = 0
    last_refusal: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    _last: float = 0.0

    def offer(self, faces: list[Face], now: float, held: Sequence[str | None] = ()) -> None:
        """One frame's embedded faces; ``held[i]``: why the camera's quality gate keeps face i from naming
        anyone ("turned", "blurred", "small"), or None."""
        if self.done.is_set() or not faces or now - self._last < self.min_interval_s:
            return
        candidates, taken, refused = 0, None, None  # a face the gate holds back is a candidate, never taken
        for f, gated in zip(faces, list(held) or [None] * len(faces), strict=True):
            why = enrollment_verdict(assess(f.face_px, f.chip, f.points))[0]
            if why is None:
                candidates += 1
                if gated is None:
                    taken = f
                else:
                    refused = f"the camera's quality gate holds the face back ({gated}): it would name nobody from it"
            elif f.face_px >= MIN_FACE_PX:
                refused = why
        if candidates > 1:
            self.skipped_multi += 1  # whose face would it be?
            return
        if taken is None:
            if refused is not None:
                self.skipped_poor += 1
                self.last_refusal = refused
            return
        self._last = now
        self.faces.append(taken)
        if len(self.faces) >= self.frames:
            self.done.set()


class People:
    """The gallery as a service: every change goes through here, and is announced to the listeners.

    ``lock`` guards the pipeline (TFLite is not thread-safe), the gallery, the captures and matcher swaps
    (with the hooks that follow them). With one camera the daemon's frame loop shares the pipeline and
    takes the same lock; with several, each camera's thread has parts of its own and a lock of its own,
    and never takes this one (the matcher swaps its gallery as one object; a camera copies the captures
    at once and offers faces only to its own). ``cameras`` are the cameras a capture may use.
    """

    def __init__(self, pipeline: Pipeline, gallery: Gallery, *, keep_crops: bool, cameras: Sequence[str] = ()
                 ) -> None:
        self.pipeline = pipeline
        self.gallery = gallery
        self.keep_crops = keep_crops
        self.cameras = list(cameras)
        self.lock = threading.Lock()
        #: pending captures, changed under ``lock``; a camera offers faces to its own (see above)
        self.captures: list[Capture] = []
        self._listeners: list[Listener] = []
        self._guards: list[Guard] = []
        self._matcher_hooks: list[Callable[[], None]] = []

    # -- wiring -------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        """``listener`` hears every change, in order, on the thread that made it; it must not raise."""
        self._listeners.append(listener)

    def add_guard(self, guard: Guard) -> None:
        self._guards.append(guard)

    def on_matcher_update(self, hook: Callable[[], None]) -> None:
        """``hook`` runs under ``lock`` whenever the matcher gets a new gallery (trackers forget names)."""
        self._matcher_hooks.append(hook)

    def _announce(self, change: Change) -> None:
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:  # one listener's bug must not undo a change that is on disk already
                log.exception("a listener of %s %s failed", change.kind, change.name)

    def _check(self, name: str) -> None:
        for guard in self._guards:
            guard(name)

    def _changed(self) -> None:
        """Hand the gallery to the matcher and tell the hooks. Callers hold ``lock``."""
        self.pipeline.matcher.set_gallery(self.gallery.active())
        for hook in self._matcher_hooks:
            hook()

    # -- reading ------------------------------------------------------------------------
    def names(self) -> list[str]:
        return self.gallery.names()

    def list_people(self, name: str | None = None, detail: bool = False) -> dict:
        """Everyone's summary; ``detail`` (or one ``name``) adds each sample's id and source."""
        sha = self.gallery.model_sha256
        if name is not None:
            if name not in self.gallery.people:
                raise InputError(f"no person named {name!r}")
            chosen = [self.gallery.people[name]]
        else:
            chosen = [p for _, p in sorted(self.gallery.people.items())]
        if name is None and not detail:
            return {"people": [p.summary(sha) for p in chosen]}
        return {"people": [{**p.summary(sha), "samples": p.samples()} for p in chosen]}

    # -- enrollment ---------------------------------------------------------------------
    def enroll(self, name: str, images: Iterable[tuple[str, np.ndarray | InputError]], aligned: bool = False,
               force: bool = False) -> EnrollResult:
        """Enroll ``name`` from ``(label, rgb or the error that kept it from being read)`` pairs.

        The subject of each image (its largest face, or one much nearer the middle: pipeline.subject); raises
        InputError for a bad name or a refused person. ``images`` may decode lazily: each image is let go
        before the next is asked for, so one decoded image is in memory at a time. ``force``: enroll even a face
        the gallery names as someone else (:meth:`_who_else`).
        """
        validate_name(name)
        self._check(name)
        self.gallery.check_writable()
        found: list[tuple[str, Face]] = []
        rejected: list[dict] = []
        notes: list[dict] = []
        for label, img in images:
            self._take_subject(name, label, img, aligned, found, rejected, notes)
            del img  # before the next one is decoded
        return self._enroll_faces(name, found, rejected, notes, force=force)

    def _take_subject(self, name: str, label: str, img: np.ndarray | InputError, aligned: bool,
                      found: list[tuple[str, Face]], rejected: list[dict], notes: list[dict]) -> None:
        """One image's subject face into ``found``, or its reason into ``rejected``."""
        if isinstance(img, InputError):
            rejected.append({"image": label, "reason": str(img)})
            return
        with self.lock:
            face, count, why = self.pipeline.subject_face(img, aligned=aligned)
        if face is None:
            rejected.append({"image": label, "reason": why or "no face found"})
            return
        found.append((label, face))
        if count > 1:  # say which face was taken: a bystander's must not be enrolled under the name
            b = face.box
            notes.append({"image": label, "warning": (
                f"{count} faces in the image; took the one it is of (the largest unless another is much "
                f"nearer the middle): {b.w}x{b.h} px at x={b.x}, y={b.y}. If that is not {name}, remove "
                "the sample and enroll a photo cropped to them")})

    def enroll_images(self, name: str, images: list[tuple[str, bytes]], force: bool = False) -> dict:
        """Enroll from encoded images (an MQTT payload): each is checked from its header, then decoded only when
        the one before it is done with, within the request's budget of decoded pixels."""
        validate_name(name)
        self._check(name)
        self.gallery.check_writable()  # before any decoding: a read-only gallery refuses at once
        budget = Budget()

        def decoded() -> Iterator[tuple[str, np.ndarray | InputError]]:
            for label, data in images:
                try:
                    yield label, decode_image(data, what=label, budget=budget)
                except InputError as e:  # the reply names the image once: "payload: not …", not "payload: payload: …"
                    yield label, InputError(str(e).removeprefix(f"{label}: "))

        return self.enroll(name, decoded(), force=force).as_dict()

    def enroll_capture(self, name: str, camera: str | None, frames: int, timeout_s: float, force: bool = False
                       ) -> dict:
        """Enroll from the next ``frames`` frames of ``camera`` that show exactly one face good enough to enroll."""
        validate_name(name)
        self._check(name)
        self.gallery.check_writable()  # before waiting for frames that could not be kept
        if camera is None:
            if len(self.cameras) != 1:
                raise InputError(f"capture.camera is required; cameras: {', '.join(self.cameras)}")
            camera = self.cameras[0]
        if camera not in self.cameras:
            raise InputError(f"no camera named {camera!r}; cameras: {', '.join(self.cameras)}")
        cap = Capture(camera, frames)
        with self.lock:
            self.captures.append(cap)
        cap.done.wait(timeout_s)
        with self.lock:
            self.captures.remove(cap)
        faces = list(cap.faces)
        rejected = []
        if len(faces) < frames:
            why = f"{len(faces)} of {frames} frames with exactly one face within {timeout_s:g} s"
            skipped = []
            if cap.skipped_multi:
                skipped.append(f"{cap.skipped_multi} frames had several faces")
            if cap.skipped_poor:
                skipped.append(f"{cap.skipped_poor} frames' face could not be enrolled, last: {cap.last_refusal}")
            if skipped:
                why += f" ({'; '.join(skipped)})"
            rejected.append({"image": f"camera:{camera}", "reason": why})
        return self._enroll_faces(name, [(f"camera:{camera}", f) for f in faces], rejected, force=force).as_dict()

    def enroll_held(self, name: str, faces: list[tuple[str, Face]], force: bool = False) -> dict:
        """Enroll faces the daemon held (unknown faces: chips and embeddings), through the same screen."""
        validate_name(name)
        self._check(name)
        self.gallery.check_writable()
        return self._enroll_faces(name, faces, [], force=force).as_dict()

    def _enroll_faces(self, name: str, faces: list[tuple[str, Face]], rejected: list[dict],
                      notes: list[dict] | None = None, force: bool = False) -> EnrollResult:
        result = EnrollResult(name, rejected=rejected)
        kept = self._not_enrolled_yet(name, screen(faces, result), result)
        taken = {label for label, _ in kept}  # "which face was taken" only where one was
        result.warnings[:0] = [n for n in notes or [] if n["image"] in taken]
        if not kept:
            return result
        others = self._who_else(name, kept)
        if others and not force:  # nothing is added: one photo under a second name is enough to split a person
            return self._refuse_as_someone_else(name, kept, others, result)
        result.warnings += [{"image": label, "warning": f"already enrolled as {who} (score {score:.2f}); enrolled "
                                                        f"as {name} anyway (force)"}
                            for label, (who, score) in others.items()]
        new = name not in self.gallery.people
        with self.lock:
            self.gallery.add(
                name,
                np.stack([f.embedding for _, f in kept]),
                np.stack([f.chip for _, f in kept]) if self.keep_crops else None,
                [label.rsplit("/", 1)[-1] for label, _ in kept],  # a file's name, never its folder
            )
            self._changed()
        result.added = len(kept)
        result.advice = photos_advice(name, self.gallery.people[name].count)
        log.info("enrolled %s (%d face(s))", name, len(kept))
        self._announce(Change(ADDED if new else UPDATED, name))
        return result

    def _not_enrolled_yet(self, name: str, kept: list[tuple[str, Face]], result: EnrollResult
                          ) -> list[tuple[str, Face]]:
        """``kept`` without the photos ``name`` already has (or that this request holds twice): the same photo
        sent again is one sample, not two (:data:`SAME_PHOTO`); each one left out is in ``result.rejected``."""
        person = self.gallery.people.get(name)
        have: list[tuple[str, np.ndarray]] = []
        if person is not None and person.model_sha256 == self.gallery.model_sha256:
            have = [(f"sample {sid} of {name}", e) for sid, e in zip(person.sample_ids, person.embeddings,
                                                                        strict=True)]
        out = []
        for label, face in kept:
            e = np.asarray(face.embedding, np.float32)
            same = next((what for what, other in have if 1.0 - float(np.dot(e, other)) <= SAME_PHOTO), None)
            if same is not None:
                result.rejected.append({"image": label, "reason": f"the same photo as {same}: not counted twice"})
                continue
            have.append((label, e))
            out.append((label, face))
        return out

    def _who_else(self, name: str, kept: list[tuple[str, Face]]) -> dict[str, tuple[str, float]]:
        """``{label: (person, score)}`` for each face the gallery already names as someone other than ``name``,
        at the strictness recognition runs with (the matcher's): events would name that face either way."""
        matches = self.pipeline.matcher.match(np.stack([f.embedding for _, f in kept]))
        return {label: (m.name, m.score) for (label, _), m in zip(kept, matches, strict=True)
                if m.name is not None and m.name != name}

    def _refuse_as_someone_else(self, name: str, kept: list[tuple[str, Face]],
                                others: dict[str, tuple[str, float]], result: EnrollResult) -> EnrollResult:
        """Nothing enrolled: each face the gallery names otherwise says who, with the score and the way out."""
        threshold = self.pipeline.matcher.threshold
        for label in dict.fromkeys(label for label, _ in kept):  # a capture's frames share one label
            if label in others:
                who, score = others[label]
                why = (f"already enrolled as {who} (score {score:.2f}, names from {threshold:.2f}): enroll it as "
                       f"{who}, or rename {who} to {name}; two people who look alike: force ({FORCE_HINT})")
            else:
                why = "not enrolled: another face of this request is already enrolled as someone else"
            result.rejected.append({"image": label, "reason": why})
        log.info("enroll %s refused: %s", name, "; ".join(f"{label} is {who} (score {score:.2f})"
                                                             for label, (who, score) in others.items()))
        return result

    # -- fixing a wrong name ------------------------------------------------------------------
    def remove_samples(self, name: str, sample_ids: list[str]) -> dict:
        """Remove some of ``name``'s samples (never the last one: that is :meth:`delete`)."""
        self._check(name)
        with self.lock:
            person = self.gallery.remove_samples(name, sample_ids)
            self._changed()
        log.info("removed %d sample(s) of %s", len(sample_ids), name)
        self._announce(Change(UPDATED, name))
        return {"name": name, "removed": list(sample_ids), "samples": person.count}

    def reassign(self, new_name: str, faces: list[tuple[str, Face]], *, label: str, old_name: str | None) -> dict:
        """Move a recognition to ``new_name``: its held faces are enrolled under ``new_name`` (the same screen
        as photos), then the samples it gave ``old_name`` (source ``label``), if any, are removed.

        Both names pass the guards first; ``old_name`` keeps at least one sample (else: delete them).
        Enrolling comes first, so a refused enrollment changes nothing.
        """
        validate_name(new_name)
        if new_name == old_name:
            raise InputError(f"that face is {new_name} already")
        self._check(new_name)
        old = self.gallery.people.get(old_name) if old_name is not None else None
        moved = [sid for sid, src in zip(old.sample_ids, old.sources, strict=False) if src == label] if old else []
        if old is not None and moved:
            self._check(old.name)
            if len(moved) >= old.count:
                raise InputError(f"every sample of {old.name} came from this face: delete {old.name} (cmd/delete), "
                                 f"then enroll {new_name} from it (cmd/enroll with its face_id)")
        # the face is named old_name (or another) by definition: the reassignment is the fix, not a conflict
        result = self._enroll_faces(new_name, faces, [], force=True)
        result.warnings = [w for w in result.warnings if "(force)" not in w["warning"]]
        if not result.added:
            reasons = "; ".join(f"{r['image']}: {r['reason']}" for r in result.rejected)
            raise InputError(f"nothing moved: no chip of that face can be enrolled ({reasons or 'no face'})")
        out = result.as_dict()
        out["from"] = old_name
        out["removed"] = []
        if old is not None and moved:
            out["removed"] = self.remove_samples(old.name, moved)["removed"]
        log.info("reassigned a face from %s to %s", old_name or "unknown", new_name)
        return out

    # -- delete, rename ----------------------------------------------------------------
    def delete(self, name: str) -> dict:
        self._check(name)
        self.remove(name)
        log.info("deleted %s", name)
        return {"deleted": name}

    def remove(self, name: str, *, from_fleet: bool = False) -> None:
        """Remove every trace of ``name`` from the gallery (no guard: fleet sync has checked the signer)."""
        with self.lock:
            self.gallery.remove(name)
            self._changed()
        self._announce(Change(REMOVED, name, from_fleet=from_fleet))

    def rename(self, name: str, new_name: str) -> dict:
        self._check(name)
        with self.lock:
            self.gallery.rename(name, new_name)
            self._changed()
        log.info("renamed %s to %s", name, new_name)
        self._announce(Change(RENAMED, name, new_name))
        return {"renamed": name, "to": new_name}

    def replace(self, person: Person) -> None:
        """Take a person's whole state from fleet sync."""
        new = person.name not in self.gallery.people
        with self.lock:
            self.gallery.replace(person)
            self._changed()
        self._announce(Change(ADDED if new else UPDATED, person.name, from_fleet=True))

    # -- backup ---------------------------------------------------------------------------
    def restore(self, people: list[Person]) -> dict:
        """Add the people of a backup (``frd gallery import FILE``): all of them, or nobody.

        Someone already enrolled is refused, not merged (remove or rename them first): a restore must not
        blend two sets of samples under one name. People enrolled with another model are embedded again
        from their chips, and refused when the backup has none. Everything is checked before anything
        is written.
        """
        if not people:
            raise InputError("the backup holds nobody")
        for p in people:
            validate_name(p.name)
            self._check(p.name)
        taken = sorted(p.name for p in people if p.name in self.gallery.people)
        if taken:
            raise InputError(f"already enrolled: {', '.join(taken)} (remove or rename them first; nothing was "
                             "imported)")
        if len(self.gallery.people) + len(people) > self.gallery.max_people:
            raise InputError(f"the gallery would hold {len(self.gallery.people) + len(people)} people (gallery."
                             f"max_people = {self.gallery.max_people}); nothing was imported")
        sha = self.gallery.model_sha256
        dim = self.pipeline.embedder.manifest.embedding_dim
        ready, redone = [], []
        for p in people:
            if p.count > self.gallery.max_samples:
                raise InputError(f"{p.name} has {p.count} samples (gallery.max_samples_per_person = "
                                 f"{self.gallery.max_samples}); nothing was imported")
            if p.model_sha256 != sha:
                if not p.reembeddable(sha):
                    raise InputError(f"{p.name} was enrolled with another model or chip cut ("
                                     f"{describe_space(p.model_sha256)}; this frd: {describe_space(sha)}) and the "
                                     "backup holds no chips of today's cut to embed again; nothing was imported "
                                     "(enroll them again from photos)")
                try:
                    with self.lock:
                        emb = self.pipeline.embedder.embed(p.crops)
                except Exception as e:
                    raise InputError(f"{p.name}: the backup's chips cannot be embedded again ({e}); nothing was "
                                     "imported") from None
                p = Person(p.name, np.asarray(emb, np.float32), sha, p.crops, p.sources, time.time(), p.sample_ids)
                redone.append(p.name)
            elif p.embeddings.shape[1] != dim:
                raise InputError(f"{p.name}: embeddings of {p.embeddings.shape[1]} values, the model makes {dim}; "
                                 "nothing was imported")
            ready.append(p)
        with self.lock:
            for p in ready:
                self.gallery.replace(p)
            self._changed()
        for p in ready:
            self._announce(Change(ADDED, p.name))
        log.info("imported %s from a backup%s", ", ".join(p.name for p in ready),
                 f" (re-embedded {', '.join(redone)})" if redone else "")
        return {"imported": [p.name for p in ready], "reembedded": redone}

    # -- reload -------------------------------------------------------------------------
    def reload(self, why: str = "reload command") -> dict:
        """Read the gallery again (the reload command, SIGHUP); everyone mirroring it republishes."""
        self.sync_from_disk(f"reloaded ({why})")
        self._announce(Change(RELOADED))
        return {"people": self.gallery.names(), "quarantined": list(self.gallery.quarantined)}

    def sync_if_changed(self) -> None:
        """Follow changes others made on disk (the CLI, a restore), if there are any."""
        if self.gallery.changed_on_disk():
            self.sync_from_disk("changed on disk")

    def sync_from_disk(self, what: str) -> None:
        """Re-read the gallery and announce who was added, removed or updated, with one log line.

        So a person removed or renamed with the CLI leaves no trace behind in Home Assistant, the
        retained state or the fleet.
        """
        with self.lock:
            before = {n: (p.updated, tuple(p.sample_ids)) for n, p in self.gallery.people.items()}
            self.gallery.reload()
            self.gallery.reembed(self.pipeline.embedder.embed)
            self._changed()
            after = {n: (p.updated, tuple(p.sample_ids)) for n, p in self.gallery.people.items()}
        removed = sorted(set(before) - set(after))
        added = sorted(set(after) - set(before))
        renamed = renames(before, after, removed, added)
        removed = [n for n in removed if n not in renamed]
        added = [n for n in added if n not in renamed.values()]
        updated = sorted(n for n in set(before) & set(after) if before[n] != after[n])
        for old, new in renamed.items():
            self._announce(Change(RENAMED, old, new))
        for kind, names in ((REMOVED, removed), (ADDED, added), (UPDATED, updated)):
            for name in names:
                self._announce(Change(kind, name))
        changes = [f"renamed {old} to {new}" for old, new in renamed.items()]
        changes += [f"{k} {', '.join(v)}" for k, v in (("added", added), ("removed", removed), ("updated", updated))
                    if v]
        n = len(after)
        log.info("gallery %s: %d %s%s", what, n, "person" if n == 1 else "people",
                 "; " + "; ".join(changes) if changes else "")
