"""Real transcripts for the docs: the PR conversation, `kfc init`, `kfc doctor`.

Each function runs the real code (the Action's dispatcher and handlers, the `kfc` CLI) against the
test fakes and returns Markdown for a `<!-- generated:NAME -->` block of a docs page. What varies
from run to run (commit SHAs, ids, dates, durations, ports, temporary folders) is normalised to
fixed values, so the pages change only when what kfops says changes. tests/test_docs.py compares
and, with KFOPS_UPDATE_DOCS=1, rewrites them.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

SHA = "3f9c2d1e8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d"
KFP = "https://kubeflow.example.com/pipeline"
K8S = "https://k8s.example.com:6443"


def normalise(text: str, *, head: str | None = None, urls: dict[str, str] | None = None) -> str:
    if head:
        text = text.replace(head, SHA).replace(head[:12], SHA[:12]).replace(head[:7], SHA[:7])
    for real, shown in (urls or {}).items():
        text = text.replace(real, shown)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)                     # kfops' hidden markers
    text = re.sub(r"\b(pipeline|version|experiment|run)-(\d+)-[0-9a-f]{8}\b", r"\1-\2-5f3a9c1e", text)
    text = re.sub(rf"\b{SHA[:7]}-[0-9a-f]{{12}}\b", f"{SHA[:7]}-8c1d2e3f4a5b", text)  # <sha7>-<spec hash>
    text = re.sub(r"\b\d{8}-\d{6}\b", "20250106-090000", text)
    text = re.sub(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b", "2025-01-06T09:00:00Z", text)
    text = re.sub(r"\*\*Durations:\*\* build \d+s, run \d+s", "**Durations:** build 41s, run 6m 12s", text)
    return text


def quote(markdown: str) -> str:
    """A bot comment as a quoted block: GitHub renders Markdown (tables too) inside it."""
    lines = [line.rstrip() for line in markdown.strip("\n").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(("> " + line) if line else ">" for line in lines)


def fence(text: str, info: str = "console") -> str:
    return f"```{info}\n{text.rstrip()}\n```\n"


# -- the pull-request conversation ---------------------------------------------------------------------

#: (title, who comments, the comment, what the example shows)
EXCHANGES: tuple[tuple[str, str, str, str], ...] = (
    ("/help", "alice", "/help", "alice has write access; `/deploy` needs maintain."),
    ("/build_run with a parameter", "alice", "/build_run --set pipeline.parameters.epochs=50\n\nfewer epochs, "
     "same data", "The status comment, as edited at the run's end."),
    ("/build_run --dry-run", "alice", "/build_run --dry-run --set pipeline.parameters.learning_rate=0.05",
     "Compiles and checks the parameters; nothing is built, uploaded or run."),
    ("a misspelt parameter", "alice", "/build_run --set pipeline.parameters.epoch=50",
     "Parameters are checked against the compiled pipeline before anything runs."),
    ("a near miss", "alice", "/depoly", "Not a command, but close to one."),
    ("not allowed", "bob", "/deploy", "bob has write access; `/deploy` needs maintain."),
    ("not allowed, read access", "rita", "/build_run", "rita has read access."),
    ("/status", "rita", "/status", "Anyone who can read the repository."),
    ("/cancel", "alice", "/cancel", "A second run, still running when the job handed it over, is canceled."),
)


def conversation(pr_factory: Callable[..., Any], fake_kfp: Any) -> str:
    """Run EXCHANGES through the real dispatcher; the bot's answer to each, as the PR shows it."""
    from kfops_action.chatops.tracking import FollowPolicy

    fake_kfp.tasks = ["make-dataset", "train", "evaluate"]
    fake_kfp.task_outputs = {"train": {"model": ["42"]}, "evaluate": {"metrics": ["43"]}}
    pr = pr_factory()
    from kfops_action.metrics.render import md_text

    # the fake's host root also appears escaped, in the metrics section's notes (ML Metadata's URL)
    urls = {fake_kfp.url: KFP, md_text(fake_kfp.url, 200): md_text(KFP.rsplit("/", 1)[0], 200)}
    parts: list[str] = []
    for title, user, body, note in EXCHANGES:
        options: dict[str, Any] = {}
        if title == "/cancel":  # a run the job hands over at once: still running when /cancel comes
            fake_kfp.run_states = ["PENDING", "RUNNING"]
            pr.comment("/build_run", user="alice", follow=FollowPolicy(minutes=0))
        before = {c["id"] for c in pr.bot_comments()}
        pr.comment(body, user=user, **options)
        answers = [c for c in pr.bot_comments() if c["id"] not in before] or \
            [c for c in pr.bot_comments() if f"kfops:status key={pr.last_comment} " in c["body"]]
        assert answers, f"no answer to {body!r}"
        shown_comment = "\n".join("> " + line if line else ">" for line in body.splitlines())
        parts.append(f"#### {title}\n\n{note}\n\n**@{user}** commented:\n\n{shown_comment}\n\n"
                     f"**kfops** answered:\n\n" + "\n\n".join(quote(normalise(a["body"], head=pr.head, urls=urls))
                                                           for a in answers) + "\n")
    return "\n".join(parts)


# -- kfc init --------------------------------------------------------------------------------------------


def init_transcript(kfc: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path) -> str:
    repo = tmp_path / "churn-model"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    result = kfc("init", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout.replace(str(repo), "/home/you/churn-model")
    return fence("$ kfc init\n" + text)


# -- kfc doctor ------------------------------------------------------------------------------------------


def doctor_transcript(kfc: Callable[..., subprocess.CompletedProcess[str]], project: Path, env: dict[str, str],
                      urls: dict[str, str]) -> str:
    result = kfc("doctor", cwd=project, env=env)
    text = result.stdout
    for real, shown in urls.items():
        text = text.replace(real, shown)
    return fence(f"$ kfc doctor\n{text.rstrip()}\n$ echo $?\n{result.returncode}")
