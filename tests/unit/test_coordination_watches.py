"""coordination/watches.py reads ZooKeeper's four-letter answers about watches (a live server: lab 08's grader)."""
import pytest

from microcosm.coordination import watches

WCHP = "/e/n_0000000000\n\t0x10001703e8e0001\n/e\n\t0x10001703e8e0000\n\t0x10001703e8e0002\n\n"
WCHS = "2 connections watching 2 paths\nTotal watches:3\n"
MNTR = "zk_version\t3.8.0\nzk_watch_count\t5\nzk_sum_node_deleted_watch_count\t4\nzk_sum_node_children_watch_count\t2\n"


def test_an_answer_by_path_or_session_is_grouped_under_its_unindented_lines():
    assert watches._grouped(WCHP) == {"/e/n_0000000000": ["0x10001703e8e0001"],
                                      "/e": ["0x10001703e8e0000", "0x10001703e8e0002"]}
    assert watches._grouped("") == {}


def test_counts_tell_children_watches_from_data_watches_and_add_up_the_woken(monkeypatch):
    answers = {"wchs": WCHS, "mntr": MNTR}
    monkeypatch.setattr(watches, "four_letter_word", lambda port, word: answers[word])
    assert watches.counts("127.0.0.1:2181") == {"watches": 5, "data": 3, "children": 2, "woken": 6}


def test_a_word_the_server_does_not_allow_says_how_to_allow_it(monkeypatch):
    monkeypatch.setattr(watches, "four_letter_word",
                        lambda port, word: f"{word} is not executed because it is not in the whitelist.\n")
    with pytest.raises(RuntimeError, match="4lw.commands.whitelist"):
        watches.by_session("127.0.0.1:2181,127.0.0.1:2182")
