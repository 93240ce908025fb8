"""The one tokenizer (``stage.text``): its three cuts of the same text."""

from __future__ import annotations

from stage.text import content_words, search_tokens, stem, words

LINE = "Lyra's well-known stories: 2 dreams, a key, and the Network's syncing."


def test_words_are_every_run_of_letters_in_order() -> None:
    assert words(LINE) == ["lyra's", "well", "known", "stories", "dreams", "a", "key", "and", "the",
                           "network's", "syncing"]  # fmt: skip
    assert words("") == []


def test_content_words_keep_hyphenated_words_and_drop_function_words() -> None:
    assert content_words(LINE) == {"lyra's", "well-known", "stories", "dreams", "key", "network's", "syncing"}


def test_search_tokens_are_stems_without_stop_words_numbers_kept() -> None:
    assert search_tokens(LINE) == ["lyra", "well", "known", "story", "2", "dream", "key", "network", "sync"]
    assert search_tokens("Lyra’s") == [stem("Lyra’s")] == ["lyra"]


def test_markdown_is_read_as_prose_when_split_into_sentences() -> None:
    from stage.text import split_sentences

    text = (
        "The lattice seeds a few dreamscapes, which every cluster knows:\n"
        "### The Sky Orchard\n"
        "Islands of **apple** trees. The fruit glows!\n\n"
        "- Starfield Commons, the social square\n"
        "- The Tideglass Reef\n\n"
        "A line that wraps\nacross two lines."
    )
    assert split_sentences(text) == [
        "The lattice seeds a few dreamscapes, which every cluster knows:",
        "The Sky Orchard: Islands of apple trees.",
        "The fruit glows!",
        "Starfield Commons, the social square",
        "The Tideglass Reef",
        "A line that wraps across two lines.",
    ]
    assert split_sentences("Plain text. Two sentences?") == ["Plain text.", "Two sentences?"]


def test_an_exit_term_is_said_at_the_start_of_a_word() -> None:
    from stage.text import says_any

    assert says_any("We dreamed our own dream.", ["our own"])
    assert not says_any("Noticing your own voice, you just did it.", ["our own"])  # met a beat's exit before
    assert says_any("I love reading by the lamp.", ["read"]) and says_any("Breathe in.", ["breath"])
    assert not says_any("I already know.", ["read"]) and not says_any("It's history.", ["story"])
