"""The corpus locator: where the real-world files are, and what happens when they are not."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import ENV_VAR, MISSING, corpus_dir, corpus_file, corpus_params, require_corpus

from gateway.settings import PROJECT_HOME

pytestmark = pytest.mark.conformance


def test_corpus_dir_is_beside_the_project_unless_overridden(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """By default ``<project root>/../shared/corpus``; ``GATEWAY_CORPUS_DIR`` replaces it."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert corpus_dir() == PROJECT_HOME.parent / "shared" / "corpus"
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert corpus_dir() == tmp_path


def test_corpus_params_one_per_file_with_relative_ids(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every XML file of the family, sorted, its id the path inside the family folder."""
    for name in ("b/two.xml", "a/one.xml", "a/notes.txt"):
        (tmp_path / "wco-dec" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "wco-dec" / name).write_text("<x/>")
    monkeypatch.setenv(ENV_VAR, str(tmp_path))

    params = corpus_params("wco-dec")

    assert [p.id for p in params] == ["a/one.xml", "b/two.xml"]
    assert corpus_file(params[0].values[0], "wco-dec") == tmp_path / "wco-dec" / "a" / "one.xml"


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception),
                                         ("", pytest.skip.Exception),
                                         ("false", pytest.skip.Exception)])
def test_missing_corpus_fails_under_ci_and_skips_elsewhere(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str,
        outcome: type[BaseException]) -> None:
    """No corpus: one ``corpus-missing`` parameter; CI=true fails it, elsewhere it skips."""
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    monkeypatch.setenv("CI", ci)

    (param,) = corpus_params("wco-dec")

    assert param.id == MISSING
    with pytest.raises(outcome, match="nowhere"):
        corpus_file(param.values[0], "wco-dec")
    with pytest.raises(outcome, match="nowhere"):
        require_corpus("wco-dec")
