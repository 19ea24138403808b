"""The people service's pure parts: a rename made on disk (the CLI) is followed as a rename."""

from __future__ import annotations

from edged.service.people import renames


def test_a_person_who_comes_back_with_the_same_samples_under_another_name_was_renamed() -> None:
    before = {"obama": (1.0, ("a", "b")), "biden": (2.0, ("c",)), "lin": (3.0, ("d",))}
    after = {"barack": (1.0, ("a", "b")), "biden": (2.0, ("c",)), "alex": (4.0, ("e",))}
    assert renames(before, after, ["lin", "obama"], ["alex", "barack"]) == {"obama": "barack"}


def test_samples_enrolled_again_are_a_new_person_not_a_rename() -> None:
    """The same photo enrolled under a new name gets new sample ids and a new time: removed, then added."""
    before = {"obama": (1.0, ("a",))}
    after = {"barack": (5.0, ("z",))}
    assert renames(before, after, ["obama"], ["barack"]) == {}


def test_two_renames_at_once_are_told_apart() -> None:
    before = {"a": (1.0, ("1",)), "b": (2.0, ("2",))}
    after = {"x": (2.0, ("2",)), "y": (1.0, ("1",))}
    assert renames(before, after, ["a", "b"], ["x", "y"]) == {"a": "y", "b": "x"}
