import pytest

from edged.core.errors import InputError
from edged.core.names import name_from_legacy_file, validate_name


@pytest.mark.parametrize("name", ["alice", "bob_2", "mary-jane", "x", "a" * 64, "0day"])
def test_valid_names_are_accepted(name):
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../../etc/x", "lowercase letters"),
        ("Alice", "lowercase letters"),
        ("", "empty"),
        ("a" * 65, "longer than 64"),
        ("bob smith", "lowercase letters"),
        ("-rf", "starting with a letter or digit"),
        ("zoë", "lowercase letters"),
        ("a/b", "lowercase letters"),
        ("unknown", "reserved"),
        (None, "must be a string"),
    ],
)
def test_bad_names_are_refused_with_a_reason(name, why):
    with pytest.raises(InputError, match=why):
        validate_name(name)


def test_legacy_file_names_give_the_person():
    assert name_from_legacy_file("alice_1") == "alice"
    assert name_from_legacy_file("Mary_Jane_12") == "mary_jane"
    for bad in ("alice", "alice_x", "_3"):
        with pytest.raises(InputError):
            name_from_legacy_file(bad)
