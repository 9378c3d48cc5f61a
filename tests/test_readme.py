from tools.example_workflows import WORKFLOWS
from tools.pack import PACK_DIR


def test_ci_runs_the_readme_test_command_word_for_word():
    ci = (PACK_DIR / ".ci" / "run").read_text().strip().splitlines()[-1]
    readme = (PACK_DIR / "README.md").read_text()
    assert "python -m pytest" in ci
    assert ci in readme.splitlines(), "README's test command and .ci/run differ"


def test_readme_lists_every_example_workflow_with_the_comfyui_it_needs():
    rows = {line.split("|")[1].strip(" `"): line.split("|")[-2].strip()
            for line in (PACK_DIR / "README.md").read_text().splitlines() if line.startswith("| `") and "_" in line}
    for name, workflow in WORKFLOWS.items():
        assert rows.get(name) == f"{workflow.needs} or newer", name
