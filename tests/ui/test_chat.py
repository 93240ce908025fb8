"""The transcript as ``gr.Chatbot`` messages, read the way a browser would (the Markdown rendered with raw HTML
allowed, so that anything not escaped would show up as a tag): the speaker's name and role lead each line, the
line is shown as text (never as markup, a link or an image), the director's reasons and the turn's details are
a collapsed thought above it, and each message knows which event it shows."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from stage.timeline import Tree
from stage.transcript import (
    Action,
    BeatChange,
    Choose,
    Direction,
    Edit,
    ErrorEvent,
    Event,
    Narration,
    Rate,
    SafetyEvent,
    SceneEnd,
    SceneStart,
    Swipe,
    Turn,
    UserLine,
    visitor,
)
from stage.types import Story
from stage.ui.chat import Chat, ChatView, Pending, md_escape, md_unescape
from stage.ui.export import markdown
from stage.ui.render import Renderer
from tests.ui.test_render import Seen as HtmlSeen
from tests.ui.test_render import printed

ATTACK = '<img src=x onerror="alert(1)"><script>alert(2)</script> [x](http://e.com) ![i](http://e.com/a.png)'
DANGEROUS = {"img", "script", "iframe", "svg", "a", "b", "style", "object"}
_MD = MarkdownIt("commonmark", {"html": True})


class Seen(HtmlSeen):
    """The tags and the text (entities decoded, white space as one space) a browser gets from a message's
    Markdown."""

    def __init__(self, markdown_text: str) -> None:
        super().__init__(_MD.render(markdown_text))

    @property
    def text(self) -> str:
        return " ".join(super().text.split())


@pytest.fixture
def view(story: Story) -> ChatView:
    return ChatView(Renderer(story))


def chat(view: ChatView, *events: Event, tree: Tree | None = None, pending: Pending | None = None) -> Chat:
    return view.chat(events, tree if tree is not None else Tree.of(events), pending)


@pytest.mark.parametrize(
    "event",
    [
        Turn(seq=3, beat="bedtime", speaker="lyra", text=ATTACK, reason=ATTACK, lore_ids=(ATTACK,), model=ATTACK),
        UserLine(seq=4, beat="bedtime", name=ATTACK, text=ATTACK, notice=ATTACK),
        UserLine(seq=4, beat="bedtime", as_character="theo", text=ATTACK),
        Narration(seq=5, beat="bedtime", text=ATTACK, source="writer"),
        Direction(seq=6, beat="bedtime", action=Action.WHISPER, target="lyra", text=ATTACK),
        BeatChange(seq=7, beat="bedtime", title=ATTACK, location=ATTACK, reason=ATTACK, present=("lyra",)),
        ErrorEvent(seq=8, message=ATTACK, where=ATTACK),
        SafetyEvent(seq=9, direction="input", category=ATTACK, who=visitor(ATTACK).key),
        SceneEnd(seq=10, reason=ATTACK),
        SceneStart(seq=1, title=ATTACK, model=ATTACK),
    ],
    ids=lambda e: f"{e.kind}",
)
def test_person_and_model_text_reaches_the_browser_as_text(view: ChatView, event: Event) -> None:
    messages = chat(view, event).messages
    assert messages
    shown = " ".join(Seen(m["content"]).text for m in messages)
    titles = " ".join(Seen(m.get("metadata", {}).get("title", "")).text for m in messages)
    assert ATTACK in shown or ATTACK in titles  # shown, character for character
    for m in messages:
        for text in (m["content"], m.get("metadata", {}).get("title", "")):
            seen = Seen(text)
            assert not {tag for tag, _ in seen.tags} & DANGEROUS, text
            assert not any(k.startswith("on") for _, attrs in seen.tags for k in attrs)


def test_escaping_round_trips_and_keeps_only_emphasis() -> None:
    for text in [ATTACK, "${7*7} {{7*7}} a*b*c snake_case **not bold**", "# not a heading\n- not a list\n1. not one\n> not a quote", "a\\b `c` $x$ www.e.com me@e.com"]:
        escaped = md_escape(text)
        assert md_unescape(escaped) == text
        seen = Seen(escaped)
        assert seen.text == " ".join(text.split())
        assert {tag for tag, _ in seen.tags} <= {"p"}, (text, seen.tags)
    assert ("em", {}) in Seen(md_escape("*yawns* night")).tags  # a stage direction stays in italics


def test_a_turn_shows_name_role_line_and_a_thought_with_the_details(view: ChatView) -> None:
    t = Turn(
        seq=9,
        beat="bedtime",
        speaker="theo",
        text="Night, kiddo. *yawns*",
        reason="Theo was addressed by name",
        lore_ids=("adair-family", "theo-private"),
        prompt_tokens=400,
        completion_tokens=20,
        ttft_ms=250,
        latency_ms=2000,
    )
    c = chat(view, t)
    thought, line = c.messages
    assert thought["role"] == line["role"] == "assistant"
    assert thought["metadata"] == {"title": "🎬 why Theo: Theo was addressed by name", "status": "done"}
    details = Seen(thought["content"]).text
    for shown in ("adair-family", "theo-private", "400 prompt", "20 reply", "250 ms", "10.0 tokens/s"):
        assert shown in details
    seen = Seen(line["content"])
    assert seen.text.startswith("🚑 Theo · Lyra's father") and seen.text.endswith("Night, kiddo. yawns")
    assert ("em", {}) in seen.tags and ("strong", {}) in seen.tags
    assert c.seqs == [None, 9] and c.feedback == [None, None]


def test_the_details_say_where_each_candidate_came_from(view: ChatView) -> None:
    t = Turn(
        seq=12,
        beat="bedtime",
        speaker="lyra",
        text="Okay okay, my band is green! I'm ready to sync in.",
        candidates=(
            {"text": "The lemon tree looks sad.", "score": 0.4, "source": "model"},
            {"text": "Zara is my mum.", "score": 0.2, "source": "recalled"},
            {"text": "Okay okay, my band is green! I'm ready to sync in.", "score": 0.9, "source": "moment"},
        ),
        chosen=2,
        cue="You say you are ready to sync in to the Network",
        cue_reason="6/12 turns of Sync Hour gone; the beat waits on Lyra",
    )
    details = Seen(chat(view, t).messages[0]["content"]).text
    assert "candidate 1 (lower score)" in details
    assert "candidate 2 (lower score · from what they know)" in details
    assert "candidate 3 (chosen · the plot's line for the moment)" in details
    assert "the beat waits on Lyra" in details


def test_a_visitor_is_labelled_alike_on_the_page_in_markdown_and_on_the_terminal(
    view: ChatView, story: Story
) -> None:
    line = UserLine(seq=4, beat="bedtime", name="Sam", text="Hello, Lyra!")
    label = visitor("Sam").label
    assert label == "Sam (a visitor)"
    (message,) = chat(view, line).messages
    assert message["role"] == "user" and Seen(message["content"]).text == "Sam · (a visitor) Hello, Lyra!"
    assert f"**{label}:** Hello, Lyra!" in markdown(story, [line])
    assert f"{label}: Hello, Lyra!" in printed(story, line)

    stopped = SafetyEvent(seq=5, beat="bedtime", direction="input", category="violence", who=visitor("Sam").key)
    notice = "The content policy stopped a message from Sam (a visitor) (violence)."
    assert notice in Seen(chat(view, stopped).messages[0]["content"]).text
    assert "content policy: stopped a message from Sam (a visitor) (violence)" in markdown(story, [stopped])
    assert "content policy: stopped a message from Sam (a visitor) (violence)" in printed(story, stopped)


def test_a_person_playing_a_character_is_shown_as_that_character(view: ChatView, story: Story) -> None:
    line = UserLine(seq=4, beat="bedtime", as_character="theo", text="Bed, kiddo.")
    (message,) = chat(view, line).messages
    assert message["role"] == "user"
    assert Seen(message["content"]).text == "🚑 Theo · (played by a person) Bed, kiddo."
    assert "**Theo (played by a person):** Bed, kiddo." in markdown(story, [line])


def test_directions_say_what_the_writer_did(view: ChatView) -> None:
    cases = [
        (Direction(seq=2, action=Action.FORCE, target="max"), "✎ writer: Max speaks next"),
        (Direction(seq=2, action=Action.WHISPER, target="lyra", text="hide"), "✎ writer: whispered to Lyra: “hide”"),
        (Direction(seq=2, action=Action.GOTO, target="dream-meet"), "✎ writer: moved the scene to beat dream-meet"),
        (
            Direction(seq=2, action=Action.PERSONA, target="max", edits={"style": "gruff"}),
            "✎ writer: edited Max: style → gruff (from the next turn)",
        ),
    ]
    for event, shown in cases:
        (message,) = chat(view, event).messages
        assert Seen(message["content"]).text == shown
    assert chat(view, Direction(seq=3, action=Action.INJECT, text="Thunder.")).messages == []  # its narration says it


def test_a_beat_shows_where_who_and_why(view: ChatView) -> None:
    b = BeatChange(
        seq=7,
        beat="bedtime",
        position=1,
        title="Sync Hour",
        location="Lyra's room",
        present=("lyra", "theo"),
        reason="the writer moved the scene",
    )
    (message,) = chat(view, b).messages
    seen = Seen(message["content"])
    assert ("h3", {}) in seen.tags
    assert seen.text == "Beat 1 · Sync Hour Lyra's room here: 🌟 Lyra, 🚑 Theo ↳ director: the writer moved the scene"


def test_alternatives_edits_and_thumbs_show_on_the_line_they_change(view: ChatView) -> None:
    events: list[Event] = [
        SceneStart(seq=1, title="t"),
        Turn(seq=2, beat="bedtime", speaker="lyra", text="First."),
        Swipe(seq=3, beat="bedtime", of=2, text="Second."),
        Swipe(seq=4, beat="bedtime", of=2, text="Third."),
        Choose(seq=5, beat="bedtime", of=2, index=1),
        Edit(seq=6, beat="bedtime", of=2, text="Second, fixed."),
        Rate(seq=7, beat="bedtime", of=2, value="like"),
    ]
    tree = Tree.of(events)
    c = view.chat(tree.line(), tree, None)
    line = c.messages[-1]["content"]
    assert Seen(line).text == "🌟 Lyra · The heroine 2/3 edited Second, fixed."
    assert c.messages[0]["role"] == "system"  # the scene start: what Gradio's ↻ and ↶ look back to
    assert c.feedback == [None, "Like"]  # one per assistant message: the thought, the line
    assert c.seq_at(2) == 2 and c.seq_at(1) is None and c.seq_at(99) is None and c.seq_at([2, 0]) == 2
    # an edit in the page's editor sees the name header; what is saved is the line without it
    assert c.text_of(2, line.replace("Second, fixed.", "Better \\[now\\]")) == "Better [now]"
    assert c.text_of(2, "No header at all") == "No header at all"


def test_the_turn_being_written_streams_under_a_pending_thought(view: ChatView) -> None:
    c = chat(view, pending=Pending(speaker="lyra", reason="fewest turns", text="Hi <b>Dad</b>"))
    thought, line = c.messages
    assert thought["metadata"] == {"title": "🎬 Lyra speaks next", "status": "pending"}
    assert Seen(thought["content"]).text == "fewest turns"
    assert Seen(line["content"]).text == "🌟 Lyra · speaking… Hi <b>Dad</b> ▍" and c.seqs == [None, None]
    held = chat(view, pending=Pending("lyra", text="bad", held=True)).messages[-1]["content"]
    assert "held back by the content policy" in held and "bad" not in held
    assert "choosing who speaks" in chat(view, pending=Pending(speaker="")).messages[0]["content"]
    assert "busy with other scenes" in chat(view, pending=Pending("lyra", waiting=True)).messages[0]["content"]
