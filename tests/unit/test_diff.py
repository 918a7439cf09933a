"""auditor.diff: what counts as a change, what a diff carries, and how a shortened value keeps
its difference in view."""

from __future__ import annotations

import hashlib
import json

from auditor.diff import (
    ELLIPSIS,
    MAX_VALUE_CHARS,
    Segment,
    capped,
    common_affixes,
    diff_segments,
    elide_shared,
    shorten_pair,
    state_diff,
)
from auditor.resources import RESOURCES, volatile_fields


def test_volatile_fields_are_never_a_change() -> None:
    before = {"okta.app": {"lastUpdated": "2026-01-01T00:00:00.000Z", "label": "A"},
              "cognito.app_client": {"LastModifiedDate": "2026-01-01", "CallbackURLs": ["https://a"]},
              "iam.connect_role": {"RoleLastUsed": {"LastUsedDate": "2026-01-01"}, "RoleName": "r"}}
    after = {"okta.app": {"lastUpdated": "2026-01-02T00:00:00.000Z", "label": "A"},
             "cognito.app_client": {"LastModifiedDate": "2026-01-02", "CallbackURLs": ["https://a"]},
             "iam.connect_role": {"RoleLastUsed": {"LastUsedDate": "2026-01-02"}, "RoleName": "r"}}
    assert state_diff(before, after) == []
    # Only at the top of its resource: a field of that name deeper down is data like any other.
    nested = state_diff({"okta.app": {"settings": {"lastUpdated": 1}}}, {"okta.app": {"settings": {"lastUpdated": 2}}})
    assert [c.path for c in nested] == ["okta.app.settings.lastUpdated"]
    # And a real edit next to a timestamp still shows.
    after["okta.app"]["label"] = "B"
    assert [c.path for c in state_diff(before, after)] == ["okta.app.label"]


def test_the_catalogue_names_the_volatile_fields_and_the_fix_targets_read_them() -> None:
    from auditor.remediate.targets import KINDS

    assert volatile_fields()["okta.app"] == ("lastUpdated",)
    assert volatile_fields()["cognito.app_client"] == ("LastModifiedDate",)
    for kind in KINDS.values():
        assert set(RESOURCES[kind.resource].volatile) <= set(kind.volatile), kind.name


def test_a_huge_value_is_carried_as_its_digest_and_the_stretch_that_differs() -> None:
    big_before = "A" * 3_000_000 + "old" + "Z" * 1000
    big_after = "A" * 3_000_000 + "new" + "Z" * 1000
    [change] = state_diff({"cognito.idp_metadata": {"doc": big_before}}, {"cognito.idp_metadata": {"doc": big_after}})
    before, after = change.before["$omitted"], change.after["$omitted"]
    assert before["sha256"] == hashlib.sha256(big_before.encode()).hexdigest()
    assert after["length"] == len(big_after)
    assert "old" in before["excerpt"] and "new" in after["excerpt"]
    assert big_before[before["excerpt_offset"]:].startswith(before["excerpt"])
    assert len(json.dumps(change.to_json())) < 2_000
    # Within the cap a value is carried as it is; a non-string is digested as compact sorted JSON.
    assert capped("x" * MAX_VALUE_CHARS) == "x" * MAX_VALUE_CHARS
    items = {"b": ["y" * 3000], "a": 1}
    digest = capped(items)["$omitted"]["sha256"]
    assert digest == hashlib.sha256(json.dumps(items, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_shorten_pair_keeps_the_first_difference_in_view() -> None:
    a = "urn:amazon:cognito:sp:us-east-1_" + "0a6799a12e9848b5a3e253b4b4b8d13"
    b = a + "d"
    # The bug: both cut at the same prefix, so before and after looked equal.
    assert a[:40] == b[:40]
    short_a, short_b = shorten_pair(a, b, width=40)
    assert short_a != short_b and len(short_a) <= 40 and len(short_b) <= 40
    assert short_a.startswith(ELLIPSIS) and short_b.endswith("d13d")
    # A long document differing in the middle: both windows start just before the difference.
    doc_a = "<xml>" + "x" * 500 + "<cert>AAAA</cert>" + "y" * 500
    doc_b = doc_a.replace("AAAA", "BBBB")
    sa, sb = shorten_pair(doc_a, doc_b, width=60)
    assert "AAAA" in sa and "BBBB" in sb and sa.endswith(ELLIPSIS)
    # Short enough: shown whole.
    assert shorten_pair("abc", "abd", width=10) == ("abc", "abd")


def test_diff_segments_mark_exactly_the_differing_characters() -> None:
    a, b = "https://login.example.com/saml", "https://login.example.org/saml"
    left, right = diff_segments(a, b)
    assert left == (Segment("https://login.example."), Segment("com", True), Segment("/saml"))
    assert right[1] == Segment("org", True)
    assert "".join(s.text for s in left) == a
    assert common_affixes("abc", "abc") == (3, 0)
    assert common_affixes("ab", "abab") == (2, 0)
    # Long: the shared parts are elided next to the difference, the difference stays.
    long_a, long_b = "p" * 5000 + "X" + "s" * 5000, "p" * 5000 + "Y" + "s" * 5000
    left, right = diff_segments(long_a, long_b, context=10, limit=100)
    assert left[0].text == ELLIPSIS + "p" * 10 and left[1] == Segment("X", True) and right[1] == Segment("Y", True)
    assert left[2].text == "s" * 10 + ELLIPSIS


def test_elide_shared_keeps_the_difference_of_two_quoted_values() -> None:
    pool = "urn:amazon:cognito:sp:us-east-1_0a6799a12e9848b5a3e253b4b4b8d13"
    message = f"okta.app.settings.signOn.audience: is '{pool}', expected '{pool}d'"
    assert elide_shared(message) == ("okta.app.settings.signOn.audience: is 'urn:amaz…4b4b8d13', "
                                     "expected 'urn:amaz…4b4b8d13d'")
    assert elide_shared("is 'a', expected 'b'") == "is 'a', expected 'b'"


def test_the_terminal_line_keeps_the_character_that_differs() -> None:
    from auditor.report.terminal import MESSAGE_WIDTH, short_message

    pool = "urn:amazon:cognito:sp:us-east-1_0a6799a12e9848b5a3e253b4b4b8d13"
    message = f"okta.app.settings.signOn.audience: is '{pool}', expected '{pool}d'"
    assert len(message) > MESSAGE_WIDTH
    shown = short_message(message)
    assert len(shown) <= MESSAGE_WIDTH and shown.endswith("b8d13d'")
    assert short_message("x" * 400).endswith(ELLIPSIS) and len(short_message("x" * 400)) == MESSAGE_WIDTH


def test_a_plan_line_shows_where_a_long_document_changes() -> None:
    from auditor.diff import FieldChange
    from auditor.remediate.model import Plan, PlannedChange
    from auditor.remediate.plan import plan_text

    head = '<?xml version="1.0" encoding="UTF-8"?><md:EntityDescriptor entityID="http://www.okta.com/exk1">' + " " * 200
    old = head + "<ds:X509Certificate>MIIOLD</ds:X509Certificate>"
    new = old.replace("MIIOLD", "MIINEW")
    change = PlannedChange("f:iam.saml_provider", "f", "iam.saml_provider", {"arn": "a"}, "iam:UpdateSAMLProvider",
                           ("CONNECT-IAM-SAML-PROVIDER",), ("why",), (FieldChange("SAMLMetadataDocument", old, new),),
                           {"SAMLMetadataDocument": old}, {"SAMLMetadataDocument": new})
    [line] = [x for x in plan_text(Plan((change,))).splitlines() if "SAMLMetadataDocument:" in x]
    before, after = line.split(": ", 1)[1].split(" -> ")
    assert "MIIOLD" in before and "MIINEW" in after
    assert len(before) <= 140 and len(after) <= 140


def test_the_html_shows_an_omitted_value_by_its_length_digest_and_excerpt() -> None:
    from auditor.report.html import change_segments

    [change] = state_diff({"okta.app": {"doc": "a" * 5000 + "OLD"}}, {"okta.app": {"doc": "a" * 5000 + "NEW"}})
    shown = change_segments(change)
    before = "".join(s.text for s in shown["before"])
    assert before.startswith("(5003 characters, SHA-256 ") and "OLD" in before
    assert any(s.differs and "OLD" in s.text for s in shown["before"])
