"""auditor.yamlio reads with libyaml when it can: the same values and positions as the
pure-Python loader, and the pure-Python loader's messages for anything libyaml rejects."""

from __future__ import annotations

import pytest

from auditor import yamlio
from tests.paths import ROOT

TRICKY = [
    'a: {"é€😀": 1, b: 2}\n',                      # columns after multi-byte characters
    "x:\r\n  - 1\r\n  - é: 2\r\n    z: 3\r\n",       # CRLF
    "\ufeffa: 1\nb: [1, 2, {c: d}]\n",               # BOM, flow collections
    "a: &x [1, 2]\nb: *x\n",                        # anchors
    "k: |\n  multi\n  line\nm: >\n  folded\n",      # block scalars
    "a: 2001-12-14\nb: 0x1f\nc: yes\nd: ~\ne: 1e3\nf: .inf\n",  # YAML 1.1 resolution
]


def _both(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[yamlio.Located, yamlio.Located]:
    fast = yamlio.load_yaml_bytes(raw, "x.yaml")
    with monkeypatch.context() as m:
        m.setattr(yamlio, "_FastLoader", None)
        slow = yamlio.load_yaml_bytes(raw, "x.yaml")
    return fast, slow


@pytest.mark.skipif(yamlio._FastLoader is None, reason="PyYAML built without libyaml")
@pytest.mark.parametrize("text", TRICKY)
def test_libyaml_reads_what_the_python_loader_reads(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _both(text.encode("utf-8"), monkeypatch)
    assert fast.data == slow.data
    assert fast.positions == slow.positions


@pytest.mark.skipif(yamlio._FastLoader is None, reason="PyYAML built without libyaml")
def test_shipped_yaml_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    files = [*sorted((ROOT / "policies").rglob("*.yaml")), ROOT / "config.example.yaml"]
    assert len(files) > 5
    for path in files:
        fast, slow = _both(path.read_bytes(), monkeypatch)
        assert (fast.data, fast.positions) == (slow.data, slow.positions), path


@pytest.mark.parametrize("text, words", [
    ("a: 1\na: 2\n", "duplicate key 'a'"),
    ("a: [1, 2\n", "YAML syntax error"),
    ("a: \x07\n", "cannot hold the character"),
])
def test_rejected_documents_keep_the_python_loaders_message(text: str, words: str) -> None:
    with pytest.raises(yamlio.YamlLoadError) as caught:
        yamlio.load_yaml_bytes(text.encode("utf-8"), "x.yaml")
    assert words in str(caught.value)
