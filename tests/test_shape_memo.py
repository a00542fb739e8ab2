"""The bounded memo of payload shapes shared by the CAN and MessagePack template readers."""

from __future__ import annotations

from decoders.shape_memo import ShapeMemo


def test_a_template_is_worth_making_on_a_lengths_second_sighting() -> None:
    memo: ShapeMemo[str] = ShapeMemo()
    assert not memo.second_sight(40) and memo.second_sight(40) and memo.second_sight(40)
    assert not memo.second_sight(41)
    assert not memo and memo.candidates(40) is None


def test_the_newest_templates_of_a_length_are_kept_first() -> None:
    memo: ShapeMemo[str] = ShapeMemo(per_length=2)
    for name in ("a", "b", "c"):
        memo.keep(40, name)
    assert memo and memo.candidates(40) == ["c", "b"]


def test_past_its_limit_the_memo_forgets_everything() -> None:
    memo: ShapeMemo[int] = ShapeMemo(limit=3)
    for length in (1, 2, 3):
        memo.second_sight(length)
        memo.keep(length, length)
    assert not memo.second_sight(4)  # the fourth length: the sightings start again
    assert not memo.second_sight(1)
    memo.keep(4, 4)  # the fourth template: every earlier one is gone
    assert memo.by_length == {4: [4]}
    memo.clear()
    assert not memo and not memo.sightings
