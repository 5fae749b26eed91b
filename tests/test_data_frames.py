"""Frames for the ConvLSTM: every file form opens with the right shape and values or is refused in
one sentence; the next-frame task; the built-in examples."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from explorer.data import SequenceFileError, dataset_from_config
from explorer.data.examples import list_examples, load_example
from explorer.data.frames import (digit_bitmap, load_frames, load_frames_dataset, moving_digits, moving_squares,
                                  next_frame_dataset)


def one_sentence(exc) -> str:
    msg = str(exc.value)
    assert msg.endswith(".") and ". " not in msg and "\n" not in msg, msg
    return msg


def test_npy_three_and_four_axes(tmp_path):
    rng = np.random.default_rng(0)
    thw = rng.integers(0, 256, (6, 5, 7), dtype=np.uint8)
    np.save(tmp_path / "thw.npy", thw)
    frames, notes = load_frames(tmp_path / "thw.npy")
    assert frames.shape == (1, 6, 1, 5, 7) and notes == []
    np.testing.assert_array_equal(frames[0, :, 0], thw / 255.0)
    nthw = rng.uniform(0, 1, (3, 5, 8, 9))
    np.save(tmp_path / "nthw.npy", nthw)
    frames, notes = load_frames(tmp_path / "nthw.npy")
    assert frames.shape == (3, 5, 1, 8, 9) and notes == []
    np.testing.assert_array_equal(frames[2, 4, 0], nthw[2, 4])


def test_channel_axis_first_or_last_with_one_sentence_when_ambiguous(tmp_path):
    rng = np.random.default_rng(1)
    thwc = rng.uniform(0, 1, (5, 8, 8, 3))
    np.save(tmp_path / "thwc.npy", thwc)
    frames, notes = load_frames(tmp_path / "thwc.npy")
    assert frames.shape == (1, 5, 3, 8, 8)
    np.testing.assert_array_equal(frames[0, 2, 1], thwc[2, :, :, 1])
    assert len(notes) == 1 and notes[0].startswith("thwc.npy (5, 8, 8, 3) was read as one sequence of 5 frames")
    assert notes[0].count(". ") == 0 and "NTHW" in notes[0]
    frames, notes = load_frames(tmp_path / "thwc.npy", layout="NTHW")
    assert frames.shape == (5, 8, 1, 8, 3) and notes == []
    first = rng.uniform(0, 1, (2, 4, 3, 6, 6))
    np.save(tmp_path / "first.npy", first)
    frames, notes = load_frames(tmp_path / "first.npy")
    assert frames.shape == (2, 4, 3, 6, 6) and notes == []
    last = rng.uniform(0, 1, (2, 4, 6, 6, 3))
    np.save(tmp_path / "last.npy", last)
    frames, _ = load_frames(tmp_path / "last.npy")
    np.testing.assert_array_equal(frames[1, 3, 2], last[1, 3, :, :, 2])
    both = rng.uniform(0, 1, (2, 4, 3, 6, 1))
    np.save(tmp_path / "both.npy", both)
    frames, notes = load_frames(tmp_path / "both.npy")
    assert frames.shape == (2, 4, 3, 6, 1) and "NTHWC" in notes[0]


def test_npz_gif_and_numbered_folder(tmp_path):
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (4, 6, 6), dtype=np.uint8)
    np.savez(tmp_path / "one.npz", anything=a)
    np.testing.assert_array_equal(load_frames(tmp_path / "one.npz")[0][0, :, 0], a / 255.0)
    np.savez(tmp_path / "named.npz", labels=np.arange(3), frames=a)
    assert load_frames(tmp_path / "named.npz")[0].shape == (1, 4, 1, 6, 6)
    np.savez(tmp_path / "two.npz", a=a, b=a)
    with pytest.raises(SequenceFileError) as info:
        load_frames(tmp_path / "two.npz")
    assert one_sentence(info).startswith("two.npz holds 2 arrays (a, b)")
    grey = [rng.integers(0, 256, (9, 11), dtype=np.uint8) for _ in range(3)]
    imgs = [Image.fromarray(g, "L") for g in grey]
    imgs[0].save(tmp_path / "anim.gif", save_all=True, append_images=imgs[1:], duration=100, loop=0)
    frames, _ = load_frames(tmp_path / "anim.gif")
    assert frames.shape == (1, 3, 1, 9, 11)
    for j in range(3):                                # a grey GIF keeps its 256 greys exactly
        np.testing.assert_array_equal(frames[0, j, 0], grey[j] / 255.0)
    folder = tmp_path / "frames"
    folder.mkdir()
    for j in (1, 2, 10):                              # 10 after 2: numbers, not text order
        Image.fromarray(np.full((5, 4), j * 20, np.uint8), "L").save(folder / f"frame_{j}.png")
    Image.fromarray(np.full((5, 4, 3), 200, np.uint8), "RGB").save(folder / "frame_11.jpg", quality=100)
    (folder / "notes.txt").write_text("not a frame")
    frames, _ = load_frames(folder)
    assert frames.shape == (1, 4, 1, 5, 4)
    np.testing.assert_allclose(frames[0, :3, 0, 0, 0], [20 / 255, 40 / 255, 200 / 255])
    assert abs(frames[0, 3, 0, 0, 0] - 200 / 255) < 3 / 255
    Image.fromarray(np.zeros((6, 4), np.uint8), "L").save(folder / "frame_12.png")
    with pytest.raises(SequenceFileError) as info:
        load_frames(folder)
    assert one_sentence(info).startswith("frame_12.png in frames is 4×6 but the first frame is 4×5")


def test_hostile_files_are_refused_in_one_sentence(tmp_path, monkeypatch):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(SequenceFileError) as info:
        load_frames(tmp_path / "objects.npy")
    assert "never loads" in one_sentence(info)
    (tmp_path / "text.npy").write_text("1,2,3\n")
    with pytest.raises(SequenceFileError) as info:
        load_frames(tmp_path / "text.npy")
    assert one_sentence(info).startswith("text.npy is not a NumPy array file")
    good = np.zeros((4, 8, 8), np.float32)
    np.save(tmp_path / "cut.npy", good)
    raw = (tmp_path / "cut.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[:-100])
    with pytest.raises(SequenceFileError) as info:
        load_frames(tmp_path / "cut.npy")
    assert one_sentence(info).startswith("cut.npy could not be read")
    # a header that promises 10^12 values is refused from the header, before reading
    header = {"descr": "<f8", "fortran_order": False, "shape": (10_000, 100, 1000, 1000)}
    with open(tmp_path / "huge.npy", "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(b"\0" * 64)
    with pytest.raises(SequenceFileError) as info:
        load_frames(tmp_path / "huge.npy")
    assert "of memory" in one_sentence(info)
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as zf:
        zf.write(tmp_path / "huge.npy", "frames.npy")
    with pytest.raises(SequenceFileError) as info:
        load_frames(tmp_path / "huge.npz")
    assert "of memory" in one_sentence(info)
    bad = np.zeros((3, 4, 4))
    bad[1, 2, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(SequenceFileError, match="NaN or infinite"):
        load_frames(tmp_path / "nan.npy")
    np.save(tmp_path / "single.npy", np.zeros((1, 4, 4)))
    with pytest.raises(SequenceFileError) as info:
        load_frames(tmp_path / "single.npy")
    assert "at least 2" in one_sentence(info)
    np.save(tmp_path / "words.npy", np.full((3, 2, 2), "a"))
    with pytest.raises(SequenceFileError, match="not numbers"):
        load_frames(tmp_path / "words.npy")
    np.save(tmp_path / "six.npy", np.zeros((1, 2, 3, 4, 4, 4)))
    with pytest.raises(SequenceFileError) as info:
        load_frames(tmp_path / "six.npy")
    assert one_sentence(info).startswith("six.npy holds an array of shape (1, 2, 3, 4, 4, 4)")
    (tmp_path / "fake.gif").write_bytes(b"GIF89a" + b"\0" * 20)
    with pytest.raises(SequenceFileError) as info:
        load_frames(tmp_path / "fake.gif")
    assert one_sentence(info).startswith("fake.gif is not a readable GIF")
    (tmp_path / "data.csv").write_text("1,2\n")
    with pytest.raises(SequenceFileError, match=r"^data.csv is not a frames file"):
        load_frames(tmp_path / "data.csv")
    with pytest.raises(SequenceFileError, match="does not exist"):
        load_frames(tmp_path / "missing.npy")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SequenceFileError) as info:
        load_frames(empty)
    assert one_sentence(info).startswith("The folder empty holds 0 PNG or JPEG frame(s)")
    np.save(tmp_path / "wide.npy", np.zeros((2, 3, 2, 3, 5000), np.uint8))
    with pytest.raises(SequenceFileError, match="up to 4096 pixels a side"):
        load_frames(tmp_path / "wide.npy")
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "10K")
    np.save(tmp_path / "big.npy", np.zeros((20, 16, 16), np.uint8))
    with pytest.raises(SequenceFileError, match="of memory"):
        load_frames(tmp_path / "big.npy")


def test_next_frame_pairs_single_sequence_and_sets():
    rng = np.random.default_rng(3)
    seq = rng.uniform(0, 1, (1, 31, 1, 4, 4))
    ds = next_frame_dataset(seq, "seq", seq_len=5, val_fraction=0.2)
    # 30 pairs: 24 for training (4 windows of 5), 6 for validation (1 window)
    assert ds.x_train.shape == (4, 5, 1, 4, 4) and ds.x_val.shape == (1, 5, 1, 4, 4)
    np.testing.assert_array_equal(ds.x_train[1], seq[0, 5:10])
    np.testing.assert_array_equal(ds.y_train[1], seq[0, 6:11])
    np.testing.assert_array_equal(ds.x_val[0], seq[0, 24:29])
    np.testing.assert_array_equal(ds.y_val[0], seq[0, 25:30])
    assert (ds.n_inputs, ds.n_outputs, ds.frame) == (1, 1, (4, 4))
    sets = rng.uniform(0, 1, (10, 6, 2, 3, 5))
    ds = next_frame_dataset(sets, "sets", val_fraction=0.2, loss="bce")
    assert ds.x_train.shape == (8, 5, 2, 3, 5) and ds.x_val.shape == (2, 5, 2, 3, 5)
    np.testing.assert_array_equal(ds.y_val[1], sets[9, 1:])
    assert ds.copy_baseline() == pytest.approx(np.mean((sets[8:, :-1] - sets[8:, 1:]) ** 2))
    with pytest.raises(SequenceFileError) as info:
        next_frame_dataset(sets * 2, "doubled", loss="bce")
    assert "binary cross-entropy needs frames in 0..1" in one_sentence(info)
    auto = next_frame_dataset(seq, "seq", val_fraction=0.2)            # 6 validation pairs: windows of 6
    assert auto.seq_len == 6 and auto.x_train.shape[0] == 4 and auto.x_val.shape[0] == 1
    with pytest.raises(SequenceFileError) as info:
        next_frame_dataset(seq[:, :4], "short", seq_len=5)
    assert one_sentence(info).startswith("short has 4 frames: too few for windows of 5 frames")


def test_file_dataset_rebuilds_from_its_config(tmp_path):
    frames = (np.random.default_rng(4).uniform(0, 1, (6, 5, 8, 8)) > 0.7).astype(np.uint8) * 255
    np.save(tmp_path / "f.npy", frames)
    ds = load_frames_dataset(tmp_path / "f.npy", loss="bce")
    assert ds.describe().startswith("f.npy: 5 training and 1 validation sequences of 4 frames of 8×8 × 1 channel(s)")
    again = dataset_from_config(json.loads(json.dumps(ds.to_config())))
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    assert again.loss == "bce"


def test_examples_made_in_code():
    names = dict(list_examples(frames=True))
    assert "moving-squares" in names and "moving-digits" in names
    assert "moving-squares" not in dict(list_examples())
    sq = moving_squares(50, 12, 16, np.random.default_rng(0))
    assert sq.shape == (50, 12, 1, 16, 16) and set(np.unique(sq)) == {0.0, 1.0}
    lit = sq.sum(axis=(2, 3, 4))
    assert lit.min() >= 9 and lit.max() <= 32                   # one or two squares of side 3–4
    assert (lit[:, 0] > 16).any() and (lit[:, 0] <= 16).any()
    assert not np.array_equal(sq[:, 0], sq[:, 1])               # they move
    one = digit_bitmap(1)
    assert one.shape == (7, 5) and one.sum() == 10 and one[:, 2].sum() == 7
    assert digit_bitmap(8, scale=2).shape == (14, 10)
    dg = moving_digits(4, 5, 32, 2, 1, np.random.default_rng(1))
    assert dg.shape == (4, 5, 1, 32, 32)
    assert np.all(dg.sum(axis=(2, 3, 4)) == dg[:, :1].sum(axis=(2, 3, 4)))   # the whole digit stays in the box
    a, b = load_example("moving-squares"), load_example("moving-squares")
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert a.x_train.shape == (240, 10, 1, 16, 16) and a.loss == "bce"
    np.testing.assert_array_equal(a.x_train[:, 1:], a.y_train[:, :-1])
    c = dataset_from_config(json.loads(json.dumps(a.to_config())))
    np.testing.assert_array_equal(c.y_val, a.y_val)
    assert a.copy_baseline() > 0.05
    d = load_example("moving-digits", n_seq=6, seq_len=4, loss="mse")
    assert d.x_train.shape == (5, 4, 1, 32, 32) and d.loss == "mse"
    with pytest.raises(SequenceFileError, match="'size' must be at most 128"):
        load_example("moving-squares", size=100000)


def test_images_too_large_are_refused_before_decoding(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((10, 5000), np.uint8), "L").save(tmp_path / "wide.gif")
    with pytest.raises(SequenceFileError) as info:
        load_frames(tmp_path / "wide.gif")
    assert one_sentence(info).startswith("wide.gif has frames of 5000×10 pixels")
    folder = tmp_path / "bomb"
    folder.mkdir()
    for j in range(2):
        Image.fromarray(np.zeros((40, 40), np.uint8), "L").save(folder / f"{j}.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)           # 1,600 pixels: Pillow warns of a bomb
    with pytest.raises(SequenceFileError) as info:
        load_frames(folder)
    assert "too many pixels" in one_sentence(info)
