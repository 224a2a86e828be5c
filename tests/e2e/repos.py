"""The model repository the workflow runs for: the quickstart example on `main`, with the
workflow users copy (workflows/kfops.yml) in .github/workflows/, and pull requests as GitHub
stores them (`refs/pull/<n>/head` in the base repository, fork heads included).

`GitServer` is a folder of bare repositories (<root>/<owner>/<repo>.git) that the checkout
stand-in (actions/checkout/action.yml) fetches from; `clone` is where act runs, at `main`.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "quickstart"
WORKFLOW = ROOT / "workflows" / "kfops.yml"
EXAMPLE_ENDPOINT = "https://kubeflow.example.com/pipeline"


def git(*args: str, cwd: Path) -> str:
    out = subprocess.run(["git", "-c", "user.name=kfops-e2e", "-c", "user.email=e2e@kfops.invalid",
                          "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
                         cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def base_config(endpoint: str) -> str:
    """kfops.yaml as it is on `main`: the example's, pointing at the (fake) Kubeflow."""
    return (EXAMPLE / "kfops.yaml").read_text(encoding="utf-8").replace(EXAMPLE_ENDPOINT, endpoint)


@dataclass
class ModelRepository:
    owner: str
    name: str
    clone: Path                 # where act runs: the default branch, as a user's clone
    git_root: Path              # the local "git server" the checkout stand-in fetches from
    main_sha: str = ""
    heads: dict[int, str] = field(default_factory=dict)   # pull request number -> head commit

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def bare(self) -> Path:
        return self.git_root / self.owner / f"{self.name}.git"

    def add_pull(self, number: int, change: str, code: str = "") -> str:
        """A pull request whose head adds one commit on `main` (appending `change`, as a comment,
        and `code` to pipeline.py), stored as refs/pull/<number>/head; returns the head commit."""
        work = self.clone.parent / f"pr-{number}"
        shutil.rmtree(work, ignore_errors=True)
        git("clone", "-q", str(self.bare), str(work), cwd=self.clone.parent)
        with (work / "pipeline.py").open("a", encoding="utf-8") as handle:
            handle.write(f"\n# {change}\n{code}")
        git("commit", "-q", "-am", change, cwd=work)
        git("push", "-q", "origin", f"HEAD:refs/pull/{number}/head", cwd=work)
        self.heads[number] = git("rev-parse", "HEAD", cwd=work)
        shutil.rmtree(work)
        return self.heads[number]


def make_repository(tmp: Path, *, owner: str, name: str, kubeflow_endpoint: str) -> ModelRepository:
    clone = tmp / name
    shutil.copytree(EXAMPLE, clone, ignore=shutil.ignore_patterns(".kfops", "__pycache__"))
    (clone / "kfops.yaml").write_text(base_config(kubeflow_endpoint), encoding="utf-8")
    workflows = clone / ".github" / "workflows"
    workflows.mkdir(parents=True)
    shutil.copy2(WORKFLOW, workflows / "kfops.yml")
    git("init", "-q", cwd=clone)
    git("add", "-A", cwd=clone)
    git("commit", "-q", "-m", "the model", cwd=clone)
    repo = ModelRepository(owner, name, clone, tmp / "git-server")
    repo.bare.parent.mkdir(parents=True)
    git("init", "-q", "--bare", str(repo.bare), cwd=tmp)
    git("push", "-q", str(repo.bare), "main", cwd=clone)
    # act names the repository (GITHUB_REPOSITORY) after the clone's origin, as GitHub would.
    git("remote", "add", "origin", f"https://github.com/{owner}/{name}.git", cwd=clone)
    repo.main_sha = git("rev-parse", "HEAD", cwd=clone)
    return repo
