"""Forum export importers: Stack Exchange XML, Discourse JSON, Reddit JSON lines."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

from safeguard.errors import ConfigError, InputError
from safeguard.io.importers import TABLE, discourse, get_importer, reddit, stackexchange
from safeguard.io.readers import Record, iter_posts
from safeguard.types import Post

CARDANO = Path(__file__).resolve().parents[3] / "shared" / "eval" / "raw" / "stackexchange-cardano"
LIMIT = 4 * 1024 * 1024


def posts_of(records: list[Record]) -> list[Post]:
    out = []
    for _, post, error in iter_posts(records):
        assert error is None, error
        assert post is not None
        out.append(post)
    return out


def test_table_names_the_importers() -> None:
    assert set(TABLE) == {"stackexchange", "discourse", "reddit"}
    assert get_importer(" Reddit ").name == "reddit"
    with pytest.raises(ConfigError, match="expected one of stackexchange, discourse, reddit"):
        get_importer("phpbb")


# --- Stack Exchange ---------------------------------------------------------------------------------


def _row(**attrs: object) -> str:
    """One ``<row>`` line of a dump, its attributes escaped as the dumps escape them."""
    return "  <row " + " ".join(f"{k}={quoteattr(str(v), {chr(10): '&#xA;'})}" for k, v in attrs.items()) + " />"


SE_POSTS = "\n".join(
    [
        '\ufeff<?xml version="1.0" encoding="utf-8"?>',
        "<posts>",
        _row(
            Id=1,
            PostTypeId=1,
            CreationDate="2021-04-27T15:06:44.553",
            Score=36,
            OwnerUserId=17,
            Title="X or Y?",
            Body='<p>How is <a href="https://x.org">X</a> different?</p>\n',
            Tags="<proof-of-work><governance>",
        ),
        _row(
            Id=2,
            PostTypeId=2,
            ParentId=1,
            CreationDate="2021-04-27T16:00:00.000",
            Score=3,
            OwnerDisplayName="anon",
            Body="<blockquote><p>different?</p></blockquote><pre><code>run()\n</code></pre>",
        ),
        _row(Id=3, PostTypeId=5, CreationDate="2021-04-28T00:00:00.000", Body="<p>wiki</p>", Tags="|a|b|"),
        "</posts>",
        "",
    ]
)
SE_COMMENTS = "\n".join(
    [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<comments>",
        _row(
            Id=8,
            PostId=2,
            Score=1,
            Text="use `sudo chown <user> dir`",
            CreationDate="2021-04-27T15:32:39.773",
            UserId=38,
        ),
        _row(Id=9, PostId=1, Text="thanks", CreationDate="2021-04-27T15:40:00.000", UserDisplayName="guest"),
        "</comments>",
        "",
    ]
)


def test_stackexchange_posts_map_fields(tmp_path: Path) -> None:
    path = tmp_path / "Posts.xml"
    path.write_text(SE_POSTS, encoding="utf-8")
    records = list(stackexchange.records(str(path), LIMIT))
    assert [r.line for r in records] == [3, 4, 5]
    q, a, wiki = posts_of(records)
    assert (q.id, q.title, q.author.id, q.thread_id, q.parent_id) == ("p1", "X or Y?", "17", "p1", None)
    assert q.text == "How is X (https://x.org) different?"
    assert q.created_at is not None and q.created_at.isoformat() == "2021-04-27T15:06:44.553000+00:00"
    assert q.meta["kind"] == "question" and q.meta["score"] == 36 and q.meta["tags"] == ["proof-of-work", "governance"]
    assert (a.id, a.thread_id, a.parent_id, a.author.id, a.author.meta) == ("p2", "p1", "p1", None, {"name": "anon"})
    assert a.text == "> different?\n```\nrun()\n```"
    assert a.meta["quotes"] == ["different?"] and a.meta["code"] == ["run()"]
    assert wiki.meta["kind"] == "post" and wiki.meta["tags"] == ["a", "b"] and wiki.thread_id == "p3"


def test_stackexchange_comments_are_plain_text_with_prefixed_ids(tmp_path: Path) -> None:
    path = tmp_path / "Comments.xml"
    path.write_text(SE_COMMENTS, encoding="utf-8")
    c1, c2 = posts_of(list(stackexchange.records(str(path), LIMIT)))
    assert (c1.id, c1.parent_id, c1.thread_id, c1.author.id) == ("c8", "p2", "p2", "38")
    assert c1.text == "use `sudo chown <user> dir`"  # comment text is not HTML: <user> stays
    assert c1.meta == {"source": "stackexchange", "kind": "comment", "score": 1}
    assert c2.author.id is None and c2.author.meta == {"name": "guest"}


def test_stackexchange_damaged_document_keeps_rows_before_the_damage(tmp_path: Path) -> None:
    path = tmp_path / "Posts.xml"
    lines = SE_POSTS.splitlines()
    lines.insert(4, '  <row Id="9" Body="unclosed')
    path.write_text("\n".join(lines), encoding="utf-8")
    records = list(stackexchange.records(str(path), LIMIT))
    assert [r.data["id"] for r in records if r.data] == ["p1", "p2"]
    assert records[-1].error is not None and "invalid XML on line 6" in records[-1].error
    assert "stopped reading" in records[-1].error


def test_stackexchange_truncated_document_ends_with_an_error(tmp_path: Path) -> None:
    path = tmp_path / "Posts.xml"
    path.write_text(SE_POSTS.split("</posts>")[0], encoding="utf-8")
    records = list(stackexchange.records(str(path), LIMIT))
    assert len(records) == 4 and records[-1].error is not None and "at the end of the input" in records[-1].error


def test_stackexchange_bad_rows_and_oversized_rows_are_error_records(tmp_path: Path) -> None:
    path = tmp_path / "Posts.xml"
    big = "x" * 5000
    path.write_text(
        f'<posts>\n<row Body="no id" />\n<other Id="1" Body="b" />\n<row Id="5" Body="{big}" />\n'
        '<row Id="6" Body="fine" />\n</posts>\n',
        encoding="utf-8",
    )
    records = list(stackexchange.records(str(path), 1024))
    assert [(r.line, r.error is None) for r in records] == [(2, False), (3, False), (4, False), (5, True)]
    assert records[0].error == "row has no Id"
    assert "unexpected element <other>" in (records[1].error or "")
    assert "over the 1,024-byte limit" in (records[2].error or "")


def test_stackexchange_other_xml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "Users.xml"
    path.write_text('<users><row Id="1" /></users>', encoding="utf-8")
    with pytest.raises(InputError, match="root element is <users>"):
        list(stackexchange.records(str(path), LIMIT))


def test_stackexchange_does_not_resolve_external_entities(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET", encoding="utf-8")
    path = tmp_path / "Posts.xml"
    path.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE posts [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        '<posts>\n<row Id="1" Body="&x;" />\n</posts>\n',
        encoding="utf-8",
    )
    records = list(stackexchange.records(str(path), LIMIT))
    assert all("TOPSECRET" not in json.dumps(r.data) for r in records)
    assert len(records) == 1


def _real_or_synthetic(tmp_path: Path) -> tuple[Path, Path]:
    if (CARDANO / "Posts.xml").is_file() and (CARDANO / "Comments.xml").is_file():
        return CARDANO / "Posts.xml", CARDANO / "Comments.xml"
    posts, comments = tmp_path / "Posts.xml", tmp_path / "Comments.xml"
    rows = []
    for i in range(1, 301):
        question = i - (i - 1) % 3  # every third post is a question, the next two its answers
        parent = {} if question == i else {"ParentId": question}
        rows.append(
            _row(
                Id=i,
                PostTypeId=1 if question == i else 2,
                **parent,
                CreationDate="2021-05-01T00:00:00.000",
                Score=i,
                Body=f"<p>post {i}</p>",
                OwnerUserId=i % 7,
            )
        )
    posts.write_text("<posts>\n" + "\n".join(rows) + "\n</posts>\n", encoding="utf-8")
    rows = [_row(Id=i, PostId=i % 300 + 1, Text=f"comment {i}", UserId=3) for i in range(1, 201)]
    comments.write_text("<comments>\n" + "\n".join(rows) + "\n</comments>\n", encoding="utf-8")
    return posts, comments


def test_stackexchange_real_export_every_row_decided_once(tmp_path: Path) -> None:
    posts_xml, comments_xml = _real_or_synthetic(tmp_path)
    for path, prefix in ((posts_xml, "p"), (comments_xml, "c")):
        raw = path.read_text(encoding="utf-8-sig")
        expected = len(re.findall(r"<row\b", raw))
        ids = re.findall(r'<row Id="(\d+)"', raw)
        records = list(stackexchange.records(str(path), LIMIT))
        assert len(records) == expected
        assert [r.error for r in records if r.error] == []
        posts = posts_of(records)
        assert [p.id for p in posts] == [prefix + i for i in ids]
        assert len({p.id for p in posts}) == expected
        lines = raw.splitlines()
        for record in records[:: max(1, expected // 20)]:  # the line is the row's line in the file
            assert f'Id="{record.data["id"][1:]}"' in lines[record.line - 1]  # type: ignore[index]
    first = posts_of(list(stackexchange.records(str(posts_xml), LIMIT)))
    questions = [p for p in first if p.meta["kind"] == "question"]
    answers = [p for p in first if p.meta["kind"] == "answer"]
    assert questions and answers
    assert all(q.thread_id == q.id and q.parent_id is None and q.created_at for q in questions)
    assert all(a.parent_id == a.thread_id and a.parent_id and a.parent_id.startswith("p") for a in answers)
    if posts_xml.parent == CARDANO:
        p1 = first[0]
        assert p1.id == "p1" and p1.title == "How Cardano is different from Ethereum (2.0)?"
        assert p1.author.id == "17" and p1.meta["tags"] == ["proof-of-work", "governance", "ethereum"]
        assert p1.meta["score"] == 36 and "Ethereum 2.0 is promising" in p1.text and "<p>" not in p1.text


# --- Discourse --------------------------------------------------------------------------------------


def _discourse_post(n: int, **extra: object) -> dict[str, object]:
    post: dict[str, object] = {
        "id": 500 + n,
        "name": "",
        "username": f"user{n}",
        "user_id": 10 + n,
        "avatar_template": "/user_avatar/x/{size}/1.png",
        "created_at": f"2024-03-0{n}T10:00:00.000Z",
        "cooked": f"<p>Post {n} &amp; more</p>",
        "post_number": n,
        "post_type": 1,
        "reply_to_post_number": None,
        "topic_id": 77,
        "topic_slug": "kettles",
        "trust_level": 1,
        "moderator": False,
        "admin": False,
        "staff": False,
        "hidden": False,
        "deleted_at": None,
        "user_deleted": False,
        "score": 0.4,
    }
    post.update(extra)
    return post


DISCOURSE_TOPIC = {
    "id": 77,
    "title": "Which kettle?",
    "post_stream": {
        "posts": [
            _discourse_post(1),
            _discourse_post(
                2,
                reply_to_post_number=1,
                cooked='<aside class="quote" data-username="user1" data-post="1" data-topic="77"><div class="title">'
                "user1:</div><blockquote><p>Post 1</p></blockquote></aside><p>Agreed, see "
                '<a href="https://kettles.example/best">this</a></p><pre><code>boil()</code></pre>',
            ),
            _discourse_post(3, moderator=True, staff=True, trust_level=4, reply_to_post_number=2),
            _discourse_post(4, admin=True, staff=True, cooked=None, raw="> quoted\nown words"),
        ],
        "stream": [501, 502, 503, 504],
    },
}


def test_discourse_topic_document(tmp_path: Path) -> None:
    path = tmp_path / "topic.json"
    path.write_text(json.dumps(DISCOURSE_TOPIC, indent=2), encoding="utf-8")
    records = list(discourse.records(str(path), LIMIT))
    assert [r.line for r in records] == [1, 2, 3, 4]  # positions in the document
    p1, p2, p3, p4 = posts_of(records)
    assert (p1.id, p1.text, p1.title, p1.thread_id, p1.parent_id) == (
        "501",
        "Post 1 & more",
        "Which kettle?",
        "77",
        None,
    )
    assert (p1.author.id, p1.author.trust_level, p1.author.role) == ("11", 1, "member")
    assert p1.author.meta["username"] == "user1"
    assert p2.title is None and p2.parent_id == "501" and p2.meta["reply_to_post_number"] == 1
    assert p2.text == "> user1:\n> Post 1\nAgreed, see this (https://kettles.example/best)\n```\nboil()\n```"
    assert p2.meta["quotes"] == ["user1:\nPost 1"] and p2.meta["code"] == ["boil()"]
    assert (p3.author.role, p3.author.trust_level, p3.parent_id) == ("moderator", 4, "502")
    assert (p4.author.role, p4.text, p4.meta["quotes"]) == ("staff", "> quoted\nown words", ["quoted"])
    assert p1.created_at is not None and p1.created_at.year == 2024


@pytest.mark.parametrize(
    "shape",
    [
        lambda: DISCOURSE_TOPIC["post_stream"]["posts"],  # type: ignore[index]
        lambda: {"topic": DISCOURSE_TOPIC},
        lambda: {"latest_posts": DISCOURSE_TOPIC["post_stream"]["posts"]},  # type: ignore[index]
    ],
)
def test_discourse_other_document_shapes(tmp_path: Path, shape: object) -> None:
    path = tmp_path / "posts.json"
    path.write_text(json.dumps(shape()), encoding="utf-8")  # type: ignore[operator]
    assert [p.id for p in posts_of(list(discourse.records(str(path), LIMIT)))] == ["501", "502", "503", "504"]


def test_discourse_json_lines_of_posts_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    lines = [
        json.dumps(_discourse_post(1)),
        "{not json",
        json.dumps({"id": 9}),
        json.dumps(_discourse_post(2, trust_level=9)),
    ]
    lines.append(json.dumps(_discourse_post(3, reply_to_post_number=1)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    records = list(discourse.records(str(path), LIMIT))
    assert [r.line for r in records] == [1, 2, 3, 4, 5]
    assert records[1].error is not None and "invalid JSON" in records[1].error
    assert records[2].error == "post has neither cooked nor raw text"
    results = list(iter_posts(records))
    assert results[3][2] is not None and "trust_level must be 0..4" in results[3][2]
    assert results[4][1] is not None and results[4][1].parent_id == "501"


def test_discourse_document_over_the_limit_is_one_error_record(tmp_path: Path) -> None:
    path = tmp_path / "topic.json"
    path.write_text(json.dumps(DISCOURSE_TOPIC, indent=2) + " " * 20_000, encoding="utf-8")
    records = list(discourse.records(str(path), 1024))
    assert len(records) == 1 and records[0].error is not None and "limit" in records[0].error


# --- Reddit -----------------------------------------------------------------------------------------


def test_reddit_comments_and_submissions(tmp_path: Path) -> None:
    rows = [
        {
            "id": "abc",
            "title": "Kettle &amp; tea",
            "selftext": "Which one?",
            "author": "op",
            "created_utc": 1700000000,
            "subreddit": "tea",
            "score": 12,
            "is_self": True,
        },
        {
            "id": "k1",
            "name": "t1_k1",
            "body": "&gt; which one\n\nThis one, you idiot\n\n```\nboil()\n```",
            "author": "bob",
            "created_utc": "1700000100",
            "parent_id": "t3_abc",
            "link_id": "t3_abc",
            "subreddit": "tea",
            "score": -3,
            "distinguished": None,
        },
        {"id": "k2", "body": "[removed]", "author": "[deleted]", "parent_id": "t1_k1", "link_id": "t3_abc"},
        {
            "id": "k3",
            "body": "Rule 2.",
            "author": "modx",
            "distinguished": "moderator",
            "parent_id": "t1_k1",
            "link_id": "t3_abc",
            "created_utc": 1700000200,
        },
        {
            "id": "lnk",
            "title": "Buy now",
            "selftext": "",
            "url": "https://scam.example/x",
            "is_self": False,
            "author": "spammer",
            "created_utc": 1700000300,
        },
        {"id": "gone", "title": "[deleted]", "selftext": "[deleted]", "author": "[deleted]"},
        {"kind": "something else"},
    ]
    path = tmp_path / "RC.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    records = list(reddit.records(str(path), LIMIT))
    assert [r.line for r in records] == [1, 2, 3, 4, 5, 6, 7]
    assert [r.error for r in records if r.error] == [
        "comment [removed]: no text to moderate",
        "submission [deleted]: no title or text to moderate",
        "neither a comment (body) nor a submission (selftext, title)",
    ]
    sub, com, mod, link = posts_of([r for r in records if r.data is not None])
    assert (sub.id, sub.title, sub.text, sub.thread_id, sub.parent_id) == (
        "t3_abc",
        "Kettle & tea",
        "Which one?",
        "t3_abc",
        None,
    )
    assert sub.meta["kind"] == "submission" and sub.meta["subreddit"] == "tea" and sub.author.id == "op"
    assert (com.id, com.parent_id, com.thread_id, com.author.id) == ("t1_k1", "t3_abc", "t3_abc", "bob")
    assert (
        com.text.startswith("> which one\n") and com.meta["quotes"] == ["which one"] and com.meta["code"] == ["boil()"]
    )
    assert com.created_at is not None and com.created_at.year == 2023 and com.meta["score"] == -3
    assert mod.author.role == "moderator"
    assert link.text == "https://scam.example/x"


@pytest.mark.parametrize("encoding", ["utf-7", "utf-16", "no-such-codec"])
def test_an_xml_encoding_expat_cannot_read_ends_the_input_with_an_error_record(tmp_path: Path, encoding: str) -> None:
    # Found by the importers fuzz target: expat raises ValueError, not ParseError, for a multi-byte encoding.
    path = tmp_path / "Comments.xml"
    path.write_bytes(f'<?xml version="1.0" encoding="{encoding}"?>\n<comments>\n  <row Id="1" Text="x" />\n'.encode())
    records = list(stackexchange.records(str(path), 1 << 20))
    assert records and records[-1].error is not None and "stopped reading" in records[-1].error
    assert all(r.data is None for r in records)
