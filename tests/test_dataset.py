"""Duplicates, the split by tune, and split files on disk."""

import json

import numpy as np
import pytest

from neuraltunes_live.core.encoding import ENCODING_VERSION, encode, normalize
from neuraltunes_live.data import dataset
from neuraltunes_live.errors import DataError

from .conftest import notes

V = 73


def tune(pitches, start=0, step=12, harmony=()):
    rows = [(start + i * step, p, step, V) for i, p in enumerate(pitches)]
    rows += [(start + i * step, p, step, V) for i, p in harmony]
    return normalize(notes(*rows))


def test_transposed_and_delayed_copy_is_a_duplicate():
    a = tune([60, 62, 64, 60])
    b = tune([65, 67, 69, 65], start=24)
    c = tune([60, 62, 64, 62])
    result = dataset.deduplicate([a, b, c])
    assert result.kept == [0, 2]
    assert result.duplicates == [(1, 0)]


def test_same_tune_ornamented_held_or_harmonized_shares_a_tune_key_but_is_kept():
    melody = [67, 69, 71, 67]
    plain = tune(melody)
    # A whole tone higher, with a passing note between beats 0 and 1.
    ornamented = normalize(notes((0, 69, 6, V), (6, 70, 6, V), (12, 71, 12, V), (24, 73, 12, V), (36, 69, 12, V)))
    held = tune([67, 67, 69, 69, 71, 71, 67])  # same melody, every note repeated
    harmonized = tune(melody, harmony=[(0, 48), (1, 50), (3, 43)])
    keys = {dataset.tune_key(x) for x in (plain, ornamented, held, harmonized)}
    assert len(keys) == 1
    assert dataset.tune_key(plain) != dataset.tune_key(tune([67, 69, 71, 69]))
    assert dataset.deduplicate([plain, ornamented, held, harmonized]).kept == [0, 1, 2, 3]


def test_split_keeps_a_tune_together_and_is_fixed_by_seed():
    keys = [f"tune{i // 2}" for i in range(40)]  # 20 tunes of 2 pieces each
    split = dataset.split_by_tune(keys, seed=7, validation_fraction=0.1, test_fraction=0.1)
    assert split == dataset.split_by_tune(keys, seed=7, validation_fraction=0.1, test_fraction=0.1)
    assert split != dataset.split_by_tune(keys, seed=8, validation_fraction=0.1, test_fraction=0.1)
    assert sorted(sum(split.values(), [])) == list(range(40))
    for name, members in split.items():
        assert all(keys[i] in {keys[j] for j in members} for i in members)
        others = set().union(*(split[o] for o in split if o != name))
        assert not {keys[i] for i in members} & {keys[i] for i in others}
    assert len(split["test"]) == len(split["validation"]) == 4


def test_split_does_not_depend_on_input_order():
    keys = [f"k{i}" for i in range(30)]
    a = dataset.split_by_tune(keys, seed=1, validation_fraction=0.2, test_fraction=0.2)
    reversed_keys = keys[::-1]
    b = dataset.split_by_tune(reversed_keys, seed=1, validation_fraction=0.2, test_fraction=0.2)
    for name in a:
        assert {keys[i] for i in a[name]} == {reversed_keys[i] for i in b[name]}


@pytest.mark.parametrize("n, expected", [(1, (1, 0, 0)), (2, (2, 0, 0)), (3, (1, 1, 1)), (5, (3, 1, 1))])
def test_small_data_still_holds_out_one_piece_each_from_three_tunes(n, expected):
    split = dataset.split_by_tune([str(i) for i in range(n)], seed=0, validation_fraction=0.1, test_fraction=0.1)
    assert (len(split["train"]), len(split["validation"]), len(split["test"])) == expected


def write_data(folder, pieces_per_split):
    names = {}
    for name, pieces in pieces_per_split.items():
        tokens = [encode(p) for p in pieces]
        dataset.write_split(folder / f"{name}.npz", tokens, [len(p) for p in pieces])
        names[name] = [f"{name}{i}" for i in range(len(pieces))]
    dataset.write_manifest(folder, manifest_of(names))


def manifest_of(names):
    counts = dataset.Counts(*range(11))
    options = dataset.SplitOptions(random_seed=3, validation_fraction=0.1, test_fraction=0.1, include_drums=False)
    pieces = {name: tuple(each) for name, each in names.items()}
    return dataset.Manifest(
        created="2026-12-07T00:00:00+00:00", sources=("x",), options=options, counts=counts, pieces=pieces
    )


def test_the_manifest_reads_back_as_written(tmp_path):
    written = dataset.Manifest(
        **{
            **manifest_of({"train": ["a", "b"], "validation": [], "test": ["c"]}).__dict__,
            "duplicates": (dataset.Duplicate("d", "a"),),
            "files": (
                dataset.FileEntry("x/a.mid", "ok", None, 1, False),
                dataset.FileEntry("x/z", "skipped", "no", 0, False),
            ),
        }
    )
    dataset.write_manifest(tmp_path, written)
    assert dataset.read_manifest(tmp_path) == written


def test_a_manifest_missing_a_field_is_one_line_naming_it(tmp_path):
    dataset.write_manifest(tmp_path, manifest_of({"train": ["a"]}))
    data = json.loads((tmp_path / dataset.MANIFEST).read_text())
    del data["counts"]["notes"]
    (tmp_path / dataset.MANIFEST).write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"manifest.json.counts: notes is missing; prepare it again") as err:
        dataset.read_manifest(tmp_path)
    assert "\n" not in str(err.value)


def test_split_files_read_back(tmp_path):
    a, b = tune([60, 62]), tune([70, 72, 74], harmony=[(0, 50)])
    write_data(tmp_path, {"train": [a, b], "validation": [], "test": [a]})
    train = dataset.read_split(tmp_path, "train")
    assert len(train) == 2 and train.names == ["train0", "train1"]
    assert np.array_equal(train.piece(1), encode(b))
    assert train.notes.tolist() == [2, 4]
    assert len(dataset.read_split(tmp_path, "validation")) == 0


def test_missing_manifest_tells_how_to_make_one(tmp_path):
    with pytest.raises(DataError, match="no manifest.json; make one with `neuraltunes-live prepare`"):
        dataset.read_split(tmp_path, "train")


def test_other_encoding_version_is_a_clear_error(tmp_path):
    write_data(tmp_path, {"train": [tune([60])], "validation": [], "test": []})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["encoding_version"] = ENCODING_VERSION + 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=f"encoding version {ENCODING_VERSION + 1}.*prepare it again"):
        dataset.read_manifest(tmp_path)


def test_damaged_split_file_is_a_clear_error(tmp_path):
    write_data(tmp_path, {"train": [tune([60, 62])], "validation": [], "test": []})
    data = (tmp_path / "train.npz").read_bytes()
    (tmp_path / "train.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="train.npz: missing or damaged"):
        dataset.read_split(tmp_path, "train")


def test_one_big_tune_cannot_leave_training_empty():
    keys = ["big"] * 10 + ["a", "b"]
    for seed in range(20):
        split = dataset.split_by_tune(keys, seed=seed, validation_fraction=0.1, test_fraction=0.1)
        assert split["train"], seed
        assert sorted(sum(split.values(), [])) == list(range(12))
        holders = [name for name, members in split.items() if 0 in members]
        assert all(i in split[holders[0]] for i in range(10))  # the tune stays whole
