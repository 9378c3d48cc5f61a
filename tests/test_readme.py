from tools.pack import PACK_DIR


def test_ci_runs_the_readme_test_command_word_for_word():
    ci = (PACK_DIR / ".ci" / "run").read_text().strip().splitlines()[-1]
    readme = (PACK_DIR / "README.md").read_text()
    assert "python -m pytest" in ci
    assert ci in readme.splitlines(), "README's test command and .ci/run differ"
