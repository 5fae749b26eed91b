"""Labelled sequences: UCR tsv/csv, UEA/UCR .ts, labelled text tables, _TRAIN/_TEST pairs,
the built-in examples, and every refusal in one sentence."""

import numpy as np
import pytest

from explorer.data import SequenceFileError
from explorer.data.examples import list_examples, load_example
from explorer.data.labelled import UNKNOWN, load_labelled, looks_labelled, pair_path


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def one_sentence(exc) -> str:
    msg = str(exc.value)
    assert msg.count("\n") == 0 and msg.endswith("."), msg
    return msg


UCR = "1\t0.1\t0.2\t0.3\t0.4\n2\t1.1\t1.2\t1.3\t1.4\n1\t0.0\t0.1\t0.2\t0.3\n2\t1.0\t1.5\tNaN\tNaN\n" * 3


def test_ucr_tsv_classes_lengths_and_names_as_written(tmp_path):
    ds = load_labelled(write(tmp_path, "Toy.tsv", UCR), val_fraction=0.25, normalize="none")
    assert ds.task == "classes" and ds.class_names == ["1", "2"] and ds.n_outputs == 2
    assert ds.n_train == 9 and ds.n_val == 3 and ds.x_train.shape[1:] == (4, 1)
    lengths = np.concatenate([ds.lengths_train, ds.lengths_val])
    assert sorted(lengths.tolist()) == [2, 2, 2] + [4] * 9          # NaN past the end is padding
    short = np.flatnonzero(ds.lengths_train == 2)[0]
    np.testing.assert_array_equal(ds.x_train[short, :, 0], [1.0, 1.5, 0.0, 0.0])
    assert ds.class_counts().sum() == 9
    assert "2 classes of class (1: " in ds.describe() and "a random 25% held out" in ds.describe()


def test_ucr_csv_with_text_labels_and_interior_missing(tmp_path):
    text = "pos,1,2,3\nneg,3,?,1\npos,1,2,4\nneg,4,3,2\n"
    ds = load_labelled(write(tmp_path, "t.csv", text), val_fraction=0, normalize="none")
    assert ds.class_names == ["neg", "pos"] and ds.n_val == 0
    row = np.flatnonzero((ds.y_train == 0))[0]
    np.testing.assert_array_equal(ds.x_train[row, :, 0], [3.0, 2.0, 1.0])    # ? interpolated
    assert "1 missing value(s) filled by interpolation" in ds.describe()


def test_numeric_fractional_labels_are_regression_unless_overridden(tmp_path):
    text = "".join(f"{0.5 * k + 0.25}\t{k}\t{k + 1}\t{k + 2}\n" for k in range(10))
    p = write(tmp_path, "r.tsv", text)
    ds = load_labelled(p, val_fraction=0.2)
    assert ds.task == "regression" and ds.loss == "mse" and ds.y_train.shape == (8, 1)
    values = ds.y_train[:, 0] * ds.target_std + ds.target_mean
    assert set(np.round(values, 6)) <= {0.5 * k + 0.25 for k in range(10)}
    assert abs(float(ds.y_train.mean())) < 1e-12
    assert load_labelled(p, task="classes").task == "classes"


TS_HEADER = """# a comment
@problemName Toy
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true up down
@data
"""


def test_ts_multivariate_unequal_missing(tmp_path):
    body = "1,2,3:4,5,6:up\n3,2:1,?:down\n1,2,3,4:4,5,6,7:up\n4,3,2,1:1,1,1,1:down\n"
    ds = load_labelled(write(tmp_path, "toy.ts", TS_HEADER + body), val_fraction=0, normalize="none")
    assert ds.class_names == ["up", "down"] and ds.n_inputs == 2
    np.testing.assert_array_equal(ds.lengths_train, [3, 2, 4, 4])
    np.testing.assert_array_equal(ds.x_train[1], [[3, 1], [2, 1], [0, 0], [0, 0]])   # ? → nearest value
    np.testing.assert_array_equal(ds.y_train, [0, 1, 0, 1])


def test_ts_regression_target_label(tmp_path):
    head = "@problemName R\n@univariate true\n@equalLength true\n@seriesLength 3\n@targetLabel true\n@data\n"
    body = "".join(f"{k},{k + 1},{k + 2}:{2.5 * k}\n" for k in range(6))
    ds = load_labelled(write(tmp_path, "r.ts", head + body), val_fraction=0)
    assert ds.task == "regression" and ds.target_mean == pytest.approx(6.25)


@pytest.mark.parametrize("head, body, words", [
    ("@classLabel true 1 2\n@data\n", "1,2:3\n", "@classLabel does not list"),
    ("@classLabel true\n@data\n", "1,2:1\n", "must list the class labels"),
    ("@timeStamps true\n@classLabel true 1\n@data\n", "(0,1):1\n", "time-stamped"),
    ("@classLabel false\n@data\n", "1,2\n", "no labels"),
    ("@classLabel maybe\n@data\n", "1,2:1\n", "must be true or false"),
    ("@univariate true\n@classLabel true 1 2\n@data\n", "1,2:3,4:1\n", "@univariate true"),
    ("@equalLength true\n@classLabel true 1 2\n@data\n", "1,2:1\n1,2,3:2\n", "@equalLength true"),
    ("@seriesLength 3\n@classLabel true 1 2\n@data\n", "1,2:1\n1,2:2\n", "@seriesLength 3"),
    ("@seriesLength many\n@classLabel true 1 2\n@data\n", "1,2:1\n", "@seriesLength must be"),
    ("@classLabel true 1 2\n", "", "no @data line"),
    ("@classLabel true 1 2\n@data\n", "", "no cases after @data"),
    ("@frobnicate yes\n@classLabel true 1 2\n@data\n", "1:1\n", "does not define"),
    ("@classLabel true 1 2\n@classLabel true 1 2\n@data\n", "1:1\n", "repeats the header"),
    ("@classLabel true 1 2\n@targetLabel true\n@data\n", "1:1\n", "both @classLabel"),
    ("@classLabel true 1 2\n@data\n", "1,2:3,4:1\n1,2:2\n", "same dimensions"),
    ("@classLabel true 1 2\n@data\n", "1,x:1\n1,2:2\n", "where a number belongs"),
    ("@classLabel true 1 2\n@data\n", "1,inf:1\n1,2:2\n", "not a usable finite number"),
    ("@classLabel true 1 2\n@data\n", "1,2\n1,2:2\n", "no label after its values"),
    ("@classLabel true 1 1\n@data\n", "1,2:1\n", "lists a class label twice"),
    ("hello\n@data\n", "1,2:1\n", "not a header line"),
])
def test_ts_header_variants_are_refused_in_one_sentence(tmp_path, head, body, words):
    with pytest.raises(SequenceFileError) as exc:
        load_labelled(write(tmp_path, "bad.ts", head + body))
    assert words in one_sentence(exc) and "bad.ts" in str(exc.value)


HEADER_VS_DATA = [
    # (header lines before @classLabel, data, the header line the sentence names, words)
    ("@dimensions 2\n", "1,2:3,4:1\n1,2:2\n", "@dimensions 2 on line 1", "has 1 dimension"),
    ("@dimensions 3\n", "1,2:3,4:1\n", "@dimensions 3 on line 1", "has 2 dimensions"),
    ("@dimension 1\n", "1,2:3,4:1\n", "@dimension 1 on line 1", "fix @dimension or that line"),
    ("@univariate false\n", "1,2:1\n", "@univariate false on line 1", "write @univariate true"),
    ("@univariate true\n", "1,2:3,4:1\n", "@univariate true on line 1", "write @univariate false"),
    ("@equalLength true\n", "1,2,3:4,5:1\n", "@equalLength true on line 1", "dimensions of different lengths"),
    ("@equalLength true\n", "1,2:1\n1,2,3:2\n", "@equalLength true on line 1", "has 3 steps, the first case 2"),
    ("@seriesLength 3\n", "1,2,3:1\n1,2:2\n", "@seriesLength 3 on line 1", "has 2 steps"),
    ("@equalLength false\n@seriesLength 3\n", "1,2:1\n1,2,3,4:2\n", "@seriesLength 3 on line 2",
     "has 4 steps"),
    ("@missing false\n", "1,?,3:1\n", "@missing false on line 1", "has a missing value"),
    ("@missing false\n@equalLength true\n", "1,2,NaN:1\n", "@missing false on line 1", "has a missing value"),
]


@pytest.mark.parametrize("head, body, names, words", HEADER_VS_DATA)
def test_ts_header_and_data_that_disagree_are_refused_naming_the_line(tmp_path, head, body, names, words):
    with pytest.raises(SequenceFileError) as exc:
        load_labelled(write(tmp_path, "bad.ts", head + "@classLabel true 1 2\n@data\n" + body))
    msg = one_sentence(exc)
    assert msg.startswith("Line ") and "of bad.ts" in msg and names in msg and words in msg, msg
    assert "; " in msg                                             # and what to do about it


@pytest.mark.parametrize("head, words", [
    ("@univariate true\n@dimensions 2\n", "@dimensions 2 but @univariate true on line 1 disagrees"),
    ("@univariate false\n@dimensions 1\n", "@dimensions 1 but @univariate false on line 1 disagrees"),
    ("@dimensions 2\n@dimension 2\n", "repeats @dimensions as @dimension"),
    ("@dimensions two\n", "@dimensions must be a whole number"),
    ("@dimensions 0\n", "@dimensions must be a whole number"),
])
def test_ts_header_lines_that_disagree_are_refused(tmp_path, head, words):
    with pytest.raises(SequenceFileError) as exc:
        load_labelled(write(tmp_path, "bad.ts", head + "@classLabel true 1 2\n@data\n1,2:3,4:1\n"))
    assert words in one_sentence(exc) and "bad.ts" in str(exc.value)


def test_ts_regression_labels_must_be_numbers_on_their_line(tmp_path):
    text = "@targetLabel true\n@data\n1,2:0.5\n1,2:much\n"
    with pytest.raises(SequenceFileError) as exc:
        load_labelled(write(tmp_path, "bad.ts", text))
    assert one_sentence(exc).startswith("Line 4 of bad.ts has the label 'much', not a number")


def test_ts_headers_that_agree_with_their_data_read(tmp_path):
    head = ("@problemName P\n@missing false\n@univariate false\n@dimensions 2\n@equalLength false\n"
            "@seriesLength 4\n@classLabel true a b\n@data\n")
    body = "1,2,3:4,5,6:a\n1,2:3,4:b\n1,2,3,4:1,2,3,4:a\n"
    ds = load_labelled(write(tmp_path, "ok.ts", head + body), val_fraction=0, normalize="none")
    np.testing.assert_array_equal(ds.lengths_train, [3, 2, 4])
    np.testing.assert_array_equal(ds.x_train[1], [[1, 3], [2, 4], [0, 0], [0, 0]])
    padded = head.replace("@missing false", "@missing true") + "1,2,?,?:3,4,?,?:b\n1,2,3:1,2,3:a\n"
    ds = load_labelled(write(tmp_path, "pad.ts", padded), val_fraction=0, normalize="none")
    np.testing.assert_array_equal(ds.lengths_train, [2, 3])        # missing values after the end are padding


def test_cli_refuses_a_ts_mismatch_with_exit_2(tmp_path, capsys):
    from explorer.cli import main

    p = write(tmp_path, "bad.ts", "@dimensions 2\n@classLabel true 1 2\n@data\n1,2:1\n1,3:2\n")
    assert main(["train", str(p), "--out", str(tmp_path / "run"), "--no-plots"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Line 4 of bad.ts has 1 dimension but the header says @dimensions 2 on line 1" in err
    assert err.count("\n") == 0 and not (tmp_path / "run").exists()


def test_train_test_pair_uses_the_partner_for_validation_and_says_so(tmp_path):
    write(tmp_path, "Toy_TRAIN.tsv", UCR)
    write(tmp_path, "Toy_TEST.tsv", "3\t1\t2\t3\t4\n1\t0\t0\t0\t0\n")
    assert looks_labelled(tmp_path / "Toy_TRAIN.tsv") and pair_path(tmp_path / "Toy_TEST.tsv")[1] == "TEST"
    assert not looks_labelled(tmp_path / "sales_train.csv")             # a series named so stays a series
    ds = load_labelled(tmp_path / "Toy_TRAIN.tsv")
    assert ds.n_train == 12 and ds.n_val == 2 and ds.class_names == ["1", "2", "3"]
    assert "2 validation (from Toy_TEST.tsv)" in ds.describe()
    other = load_labelled(tmp_path / "Toy_TEST.tsv")
    assert other.n_train == 2 and other.n_val == 12 and "from Toy_TRAIN.tsv" in other.describe()


def test_labelled_text_words_and_chars(tmp_path):
    text = 'sentence,label\n"a good film, really",pos\nbad plot,neg\n"good, good",pos\nawful,neg\nfine film,pos\n'
    p = write(tmp_path, "s.csv", text)
    ds = load_labelled(p, level="word", val_fraction=0)
    assert ds.token_inputs and ds.class_names == ["neg", "pos"] and ds.vocab[0] == UNKNOWN
    first = [ds.vocab[i] for i in ds.x_train[0, :ds.lengths_train[0]]]
    assert first == ["a", "good", "film", ",", "really"]
    assert ds.n_inputs == len(ds.vocab) and ds.n_outputs == 2
    chars = load_labelled(p, level="char", val_fraction=0)
    assert chars.lengths_train[1] == len("bad plot")
    tsv = write(tmp_path, "s.tsv", "label\ttext\n1\thello there\n2\tgood bye\n")
    ds2 = load_labelled(tsv, label="label", level="word", val_fraction=0)
    assert ds2.class_names == ["1", "2"] and "2 classes of label" in ds2.describe()
    with pytest.raises(SequenceFileError) as exc:
        load_labelled(tsv, label="stars")
    assert "has no such column" in one_sentence(exc)


def test_unseen_words_of_the_validation_part_are_unknown(tmp_path):
    write(tmp_path, "W_TRAIN.csv", "text,label\ngood,pos\nbad,neg\n")
    write(tmp_path, "W_TEST.csv", "text,label\nsplendid good,pos\nbad,neg\n")
    ds = load_labelled(tmp_path / "W_TRAIN.csv", level="word")
    assert ds.x_val[0, 0] == 0 and ds.vocab[ds.x_val[0, 1]] == "good"


@pytest.mark.parametrize("name, data, words", [
    ("bin.tsv", b"1\t2\x00\t3\n", "NUL bytes"),
    ("latin.tsv", "1\t2\t3\n2\t\xe9\n".encode("latin-1"), "not UTF-8"),
    ("empty.tsv", b"   \n", "is empty"),
    ("one.tsv", b"1\t2\t3\n", "at least two"),
    ("oneclass.tsv", b"a\t2\t3\na\t3\t4\n", "one class"),
    ("nolabel.tsv", b"1\n2\t3\n", "a label but no values"),
    ("allnan.tsv", b"1\tNaN\tNaN\n2\t3\t4\n", "only missing"),
    ("huge.tsv", b"1\t1e400\n2\t3\n", "not a usable finite number"),
])
def test_hostile_files_are_refused_in_one_sentence(tmp_path, name, data, words):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(SequenceFileError) as exc:
        load_labelled(p)
    assert words in one_sentence(exc)


def test_too_many_steps_and_the_memory_budget(tmp_path, monkeypatch):
    import explorer.data.labelled as labelled

    monkeypatch.setattr(labelled, "MAX_STEPS", 5)
    with pytest.raises(SequenceFileError) as exc:
        load_labelled(write(tmp_path, "long.tsv", "1\t1\t2\t3\t4\t5\t6\n2\t1\t2\n"))
    assert "more than the 5 this program reads" in one_sentence(exc)
    monkeypatch.undo()
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "1K")
    with pytest.raises(SequenceFileError) as exc:
        load_labelled(write(tmp_path, "big.tsv", "".join(f"{k % 2}\t" + "\t".join(["1"] * 100) + "\n"
                                                         for k in range(20))))
    assert "more than the 1.0 KiB this machine allows" in one_sentence(exc)


def test_find_the_marker_and_sentiment_examples():
    names = dict(list_examples())
    assert "find-the-marker" in names and "sentiment" in names
    ds = load_example("find-the-marker")
    assert ds.n_train == 2000 and ds.n_val == 400 and ds.class_names == ["negative", "positive"]
    rows = np.arange(ds.n_val)
    np.testing.assert_array_equal(ds.x_val[rows, ds.marker_val, 1], 1.0)
    assert np.all(ds.x_val[:, :, 1].sum(axis=1) == 1.0)
    np.testing.assert_array_equal(ds.y_val, (ds.x_val[rows, ds.marker_val, 0] > 0).astype(int))
    assert np.all(ds.marker_val < ds.lengths_val)
    again = load_example("find-the-marker")
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    s = load_example("sentiment")
    words = [[s.vocab[i] for i in s.x_val[b, :s.lengths_val[b]]] for b in range(s.n_val)]
    for b, w in enumerate(words):
        decider = w[s.marker_val[b]]
        assert (decider in ("good", "great", "wonderful", "lovely", "superb")) == (s.y_val[b] == 1)


def test_a_huge_line_is_refused_before_it_is_split(tmp_path, monkeypatch):
    import explorer.data.labelled as labelled

    monkeypatch.setattr(labelled, "MAX_STEPS", 1000)
    p = tmp_path / "wide.ts"
    p.write_text("@classLabel true 1 2\n@data\n" + ",".join(["1"] * 5000) + ":1\n", encoding="utf-8")
    with pytest.raises(SequenceFileError) as exc:
        load_labelled(p)
    assert "5,000 steps, more than the 1,000" in one_sentence(exc)
    q = tmp_path / "wide.tsv"
    q.write_text("1\t" + "\t".join(["1"] * 5000) + "\n2\t1\n", encoding="utf-8")
    with pytest.raises(SequenceFileError) as exc:
        load_labelled(q)
    assert "5,000 steps" in one_sentence(exc)


def test_naming_a_column_of_a_ucr_file_is_refused(tmp_path):
    p = write(tmp_path, "u.tsv", UCR)
    assert load_labelled(p, label=0).task == "classes"
    with pytest.raises(SequenceFileError) as exc:
        load_labelled(p, label="sentiment")
    assert "leave out --label" in one_sentence(exc)
    text = "".join(f"{0.5 * k + 0.25}\t{k}\t{k + 1}\n" for k in range(10))
    assert "regression of target" in load_labelled(write(tmp_path, "r.tsv", text)).describe()


def test_a_text_field_over_the_csv_limit_is_refused(tmp_path):
    p = write(tmp_path, "big.csv", "text,label\n\"" + "a" * 200_000 + "\",pos\nshort,neg\n")
    with pytest.raises(SequenceFileError) as exc:
        load_labelled(p)
    assert "not a readable CSV" in one_sentence(exc)
