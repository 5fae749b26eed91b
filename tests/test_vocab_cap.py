"""Word-level text keeps the most frequent words (10,000 by default, --vocab N), the rest one unknown
token "<unk>"; the cap is said in the data's description, kept in the run's config and applied again
when the run is rebuilt."""

import json

import numpy as np
import pytest

from explorer.app.ingest import load_dataset
from explorer.cli import main
from explorer.data import SequenceFileError
from explorer.data.dataset import dataset_from_config
from explorer.data.loading import TextCorpus
from explorer.data.vocab import UNK, VOCAB_CAP, cap_vocabulary


def test_the_most_frequent_words_stay_and_the_rest_become_unk():
    corpus = TextCorpus.from_string("a a a b b c d e e e e", level="word")
    capped, note = cap_vocabulary(corpus, 3)
    assert capped.vocab == [UNK, "a", "e"]
    assert capped.tokens == ["a", "a", "a", UNK, UNK, UNK, UNK, "e", "e", "e", "e"]
    assert note == ("vocabulary capped at the 2 most frequent of 5 words; the other 3 (36.4 % of the text) read "
                    "as <unk> (--vocab N to change)")
    # a tie between b and c (2 each) keeps the earlier in sorted order
    tie, _ = cap_vocabulary(TextCorpus.from_string("c c b b a a a d", level="word"), 3)
    assert tie.vocab == [UNK, "a", "b"]
    same, none = cap_vocabulary(corpus, 5)
    assert same is corpus and none == ""


@pytest.mark.parametrize("cap", [1, 0, -3, 2.5, "10", True])
def test_a_cap_that_is_not_a_count_is_one_sentence(cap):
    corpus = TextCorpus.from_string("a b c", level="word")
    with pytest.raises(SequenceFileError, match="^The vocabulary cap must be a whole number of at least 2"):
        cap_vocabulary(corpus, cap)


def prose(path, n_words, n_tokens, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.concatenate([np.arange(n_words), rng.zipf(1.5, n_tokens - n_words) % n_words])
    path.write_text(" ".join(f"w{i}" for i in ids) + "\n", encoding="utf-8")
    return path


def test_the_default_cap_is_ten_thousand_and_a_run_is_rebuilt_with_it(tmp_path):
    f = prose(tmp_path / "prose.txt", 10_050, 30_000)
    ds = load_dataset(f, level="word", text=True)
    assert VOCAB_CAP == 10_000 and ds.n_outputs == 10_000 and ds.vocab.count(UNK) == 1
    assert int(ds.x_train.max()) < 10_000 and ds.config["vocab"] == 10_000
    assert "vocabulary capped at the 9,999 most frequent of 10,050 words; the other 51" in ds.describe()
    again = dataset_from_config(ds.config)
    assert again.vocab == ds.vocab
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    # a config saved before the cap (no "vocab") is rebuilt with every word, as it was trained
    old = {k: v for k, v in ds.config.items() if k != "vocab"}
    assert dataset_from_config(old).n_outputs == 10_050
    assert load_dataset(f, level="word", text=True, vocab=None).n_outputs == 10_050
    # characters are never capped
    assert "vocab" not in load_dataset(f, level="char", text=True).config


def test_the_command_line_says_the_cap_and_saves_it(tmp_path, capsys):
    f = prose(tmp_path / "prose.txt", 300, 4_000)
    out = tmp_path / "run"
    assert main(["train", str(f), "--words", "--vocab", "50", "--units", "4", "--epochs", "1", "--no-plots",
                 "--out", str(out)]) == 0
    first = capsys.readouterr().err.splitlines()[0]
    assert "vocabulary 50," in first and "capped at the 49 most frequent of 300 words" in first
    assert json.loads((out / "config.json").read_text())["data"]["vocab"] == 50
    assert main(["train", str(f), "--words", "--vocab", "1", "--out", str(tmp_path / "bad")]) == 2
    assert "--vocab must be a whole number from 2 to 10000000" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert main(["train", str(f), "--text", "--vocab", "50", "--units", "4", "--epochs", "1", "--no-plots",
                 "--out", str(tmp_path / "chars")]) == 0
    assert "lstm-explorer: --vocab is for --words; ignoring --vocab." in capsys.readouterr().err.splitlines()
