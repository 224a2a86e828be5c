"""The durable queue between accepting a command and the job that runs it.

Why it exists: GitHub keeps at most one *waiting* job per concurrency group and cancels the older
waiting one when another arrives. The pipeline group is per pull request and the deploy group
spans the repository, so a third comment could silently drop an accepted command; and when the
heavy jobs' `if:` looked only at the comment's prefix, anyone who may comment (read access, on a
public repository anyone) could displace a maintainer's queued `/deploy` by typing `/deploy`.

So the workflow has a first job, `authorize`, outside every concurrency group, with no secret but
GITHUB_TOKEN: it runs the dispatcher in the *accept* stage (event -> command -> authorize ->
requirements, nothing heavy imported) and answers refusals, near misses and /help there. Only an
accepted command gets a job output (`job`: pipeline, deploy or chat; `environment` for deploys),
and only then does a heavy job enter its group: an unauthorized comment never displaces anything.

An accepted pipeline or deploy command gets its status comment at once, in the `queued` state,
with a *ticket* as its hidden state (the command, its comment, who, when, the accepting workflow
run) and what it waits behind. When a heavy job starts (`run_with_queue`) it first looks at the
tickets of its group that are older than its own command and still queued although their
workflow run is over (GitHub cancelled their waiting job):

- pipeline (one pull request): they are run first, in order, each re-read from its author's
  comment (never from the ticket: tickets are only pointers, as every record in a comment is) and
  put through the whole path again: authorization, requirements, the head pin of its comment's
  time. Their runs are handed over at once, so that the job's own command still fits its time.
- deploy (one environment, every pull request): another person's displaced deploy is never run
  under this job's environment approval. Its status comment says it was replaced and to comment
  again, and its comment gets the confused reaction.

A ticket older than the job's command whose workflow run is still going is left alone: its own
job comes later (its authorize job finished after ours). The ticket is replaced by the command's
own report when its job starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import KfopsError
from ..github.render import Report, code, render
from .command import ENVIRONMENT_NAME, ParsedCommand, parse
from .deploy_rules import DEPLOY_COMMANDS
from .event import CommentEvent, read_event
from .ports import CONFUSED, GitHubPort
from .runs import runs_in

if TYPE_CHECKING:
    from ..github.status_comment import StatusRecord

ACCEPT_STAGE, RUN_STAGE = "accept", "run"
STAGES = (ACCEPT_STAGE, RUN_STAGE)
PIPELINE_JOB, DEPLOY_JOB, CHAT_JOB = "pipeline", "deploy", "chat"
KIND = "queued"
QUEUED, REPLACED, NOT_RUN = "queued", "replaced", "not_run"   # a ticket's phase


class QueuePort(GitHubPort, Protocol):
    """What the queue needs from GitHub besides the dispatcher's port (GitHubRepo has it all)."""

    def pulls(self, *, state: str = "open", since: str | None = None) -> list[dict[str, Any]]: ...

    def get_comment(self, comment_id: int) -> dict[str, Any] | None: ...

    def workflow_run(self, run_id: int) -> dict[str, Any]: ...


def job_for(command: str) -> str:
    """Which job of workflows/kfops.yml runs an accepted command: /deploy and /staging_deploy the
    deploy job (the one that enters a GitHub Environment), /build, /run, /build_run the pipeline
    job, every other command the chat job."""
    from .handlers import LOCK_COMMANDS, PIPELINE_COMMANDS, RELEASE_COMMANDS  # handlers imports the dispatcher

    if command in DEPLOY_COMMANDS or command in RELEASE_COMMANDS or command in LOCK_COMMANDS:
        return DEPLOY_JOB  # they need the deploy credential too
    if command in PIPELINE_COMMANDS:
        return PIPELINE_JOB
    return CHAT_JOB


def environment_of(command: ParsedCommand) -> str:
    """The environment (and so the GitHub Environment and concurrency group) of a deploy-job
    command: the one it names, else its default; the global lock counts as production. The
    workflow uses it as the deploy job's `environment:`, so it is only ever a name of the form
    the parser accepted (command.ENVIRONMENT_NAME), which the dispatcher has also checked against
    the base branch's environments; never text from the comment otherwise."""
    environment = getattr(command, "target", None) or "production"
    if not ENVIRONMENT_NAME.match(environment):
        raise ValueError(f"not an environment name: {environment!r}")
    return environment


@dataclass(frozen=True)
class Ticket:
    """An accepted command waiting for its job, as its status comment's hidden state carries it."""

    comment_id: int
    pr: int
    command: str
    requested_by: str
    requested_at: str
    sha: str
    workflow_run: int | None
    phase: str = QUEUED
    environment: str = ""   # deploy-job commands: the environment whose group it waits in

    @property
    def job(self) -> str:
        return job_for(self.command)

    def data(self) -> dict[str, Any]:
        return {"kind": KIND, "comment_id": self.comment_id, "pr": self.pr, "command": self.command,
                "requested_by": self.requested_by, "requested_at": self.requested_at, "sha": self.sha,
                "workflow_run": self.workflow_run, "phase": self.phase, "environment": self.environment}

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> Ticket | None:
        """Tolerant: a state that is not a well-formed ticket is no ticket."""
        if not isinstance(data, Mapping) or data.get("kind") != KIND:
            return None
        comment_id, pr, run = data.get("comment_id"), data.get("pr"), data.get("workflow_run")
        if not isinstance(comment_id, int) or not isinstance(pr, int) or not isinstance(data.get("command"), str):
            return None
        return cls(comment_id, pr, data["command"], str(data.get("requested_by") or ""),
                   str(data.get("requested_at") or ""), str(data.get("sha") or ""),
                   run if isinstance(run, int) else None, str(data.get("phase") or QUEUED),
                   str(data.get("environment") or DEPLOY_COMMANDS.get(data["command"], "")))

    def describe(self) -> str:
        return f"/{self.command} by @{self.requested_by} on #{self.pr}"


def tickets_in(records: Iterable[StatusRecord]) -> list[tuple[StatusRecord, Ticket]]:
    found = []
    for record in records:
        ticket = Ticket.from_data(record.data)
        if ticket is not None:
            found.append((record, ticket))
    return found


def _run_id(env: Mapping[str, str]) -> int | None:
    text = env.get("GITHUB_RUN_ID", "")
    return int(text) if text.isdigit() else None


# -- accept stage -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    """The authorize job's verdict: which job runs the command (the workflow routes on it)."""

    job: str
    environment: str = ""
    summary: str = ""


def accept(github: QueuePort, event: CommentEvent, command: ParsedCommand, head_sha: str, *,
           env: Mapping[str, str], resume: bool, warnings: Sequence[str] = (),
           log: Callable[[str], None]) -> Accepted:
    """Route an authorized command; for the pipeline and deploy jobs, post its queued status
    comment (with the ticket) saying what it waits behind."""
    job = job_for(command.name)
    if job == CHAT_JOB:
        return Accepted(job)
    ticket = Ticket(event.comment_id, event.number, command.name, event.user, event.created_at or "",
                    head_sha, _run_id(env), environment=environment_of(command) if job == DEPLOY_JOB else "")
    try:
        ahead = waiting_ahead(github, ticket)
    except KfopsError as exc:  # what it waits behind is a courtesy: the command is accepted anyway
        log(f"warning: could not list the commands ahead: {exc.what}")
        ahead = None
    summary = queued_summary(ticket, ahead)
    status = github.status_comment(event.number, str(event.comment_id), resume=resume)
    status.update(render(Report(f"/{command.name}", "queued", actor=event.user, sha=head_sha, summary=summary,
                                warnings=tuple(warnings), state_data=ticket.data())), force=True)
    return Accepted(job, ticket.environment, summary)


def waiting_ahead(github: QueuePort, ticket: Ticket) -> list[str]:
    """The commands this one waits behind, as far as the PR comments tell: for a pipeline
    command, the queued tickets and the followed runs of its pull request; for a deploy, the
    queued deploys to the same environment on every open pull request (one listing each)."""
    ahead: list[str] = []
    if ticket.job == PIPELINE_JOB:
        records = github.status_comments(ticket.pr)
        ahead += [f"{t.describe()} (queued)" for _, t in tickets_in(records)
                  if t.job == PIPELINE_JOB and t.phase == QUEUED and t.comment_id < ticket.comment_id]
        ahead += [f"/{r.command} by @{r.requested_by} (run {code(r.run_id)} running)" for _, r in runs_in(records)
                  if r.open and not r.handed_over]
        return ahead
    for issue in github.pulls(state="open"):
        for _, other in tickets_in(github.status_comments(int(issue["number"]))):
            if (other.job == DEPLOY_JOB and other.environment == ticket.environment and other.phase == QUEUED
                    and other.comment_id < ticket.comment_id):
                ahead.append(f"{other.describe()} (queued)")
    return ahead


def queued_summary(ticket: Ticket, ahead: list[str] | None) -> str:
    group = (f"one pipeline command of pull request #{ticket.pr} at a time" if ticket.job == PIPELINE_JOB
             else f"one deploy to `{ticket.environment}` at a time, across pull requests")
    if ahead is None:
        where = "It starts when the jobs before it are done"
    elif ahead:
        where = "Queued behind " + ", ".join(ahead)
    else:
        where = "Nothing is ahead of it: it starts when a runner picks it up"
    return f"{where} ({group}). Accepted: @{ticket.requested_by} may run /{ticket.command} here."


# -- run stage ----------------------------------------------------------------------------------


def run_with_queue(event_name: str, payload: Any, *, github: QueuePort, own_logins: Sequence[str],
                   dispatch_one: Callable[..., Any], log: Callable[[str], None]) -> Any:
    """A heavy job: its own command through the dispatcher, which, once that command may run
    (acknowledged, authorized, ready), gives the queue its turn: what GitHub displaced from the
    group is run (pipeline) or told (deploy) first; see the module docstring.
    `dispatch_one(payload, queued_record, taken_over, take_turn=None)` runs one comment through
    the dispatcher (run stage); the Outcome of the job's own command is returned."""
    event = read_event(event_name, payload, own_logins=own_logins)
    parsed = parse(event.body) if isinstance(event, CommentEvent) else None
    if not isinstance(event, CommentEvent) or not isinstance(parsed, ParsedCommand) or job_for(parsed.name) == CHAT_JOB:
        return dispatch_one(payload, None, False)
    command: ParsedCommand = parsed
    own: list[tuple[StatusRecord, Ticket]] = []

    def take_turn() -> StatusRecord | None:
        tickets = tickets_in(github.status_comments(event.number))
        own.extend((r, t) for r, t in tickets if t.comment_id == event.comment_id)
        if job_for(command.name) == PIPELINE_JOB:
            for record, ticket in tickets:
                if (ticket.job == PIPELINE_JOB and ticket.phase == QUEUED and ticket.pr == event.number
                        and ticket.comment_id < event.comment_id and _run_over(github, ticket, log) is not None):
                    _take_over(github, payload, record, ticket, dispatch_one, log)
        else:
            _tell_replaced(github, event, command, log)
        return own[0][0] if own else None

    outcome = dispatch_one(payload, None, False, take_turn=take_turn)
    if not getattr(outcome, "report", None) and not own:  # refused before its turn: its ticket says queued
        own.extend((r, t) for r, t in tickets_in(github.status_comments(event.number))
                   if t.comment_id == event.comment_id and t.phase == QUEUED)
    if own:
        _settle(github, own[0][0], own[0][1], outcome, log)
    return outcome


def _run_over(github: QueuePort, ticket: Ticket, log: Callable[[str], None]) -> str | None:
    """The conclusion of the ticket's workflow run when it is over (its job will never start),
    else None (still going, or unknown: left for its own job)."""
    if ticket.workflow_run is None:
        log(f"queue: {ticket.describe()} names no workflow run; left alone")
        return None
    try:
        run = github.workflow_run(ticket.workflow_run)
    except KfopsError as exc:
        log(f"warning: queue: cannot read workflow run {ticket.workflow_run} ({exc.what}); "
            f"{ticket.describe()} left alone (the job needs `actions: read`)")
        return None
    if run.get("status") != "completed":
        return None
    return str(run.get("conclusion") or "unknown")


def _take_over(github: QueuePort, payload: Any, record: StatusRecord, ticket: Ticket,
               dispatch_one: Callable[..., Any], log: Callable[[str], None]) -> None:
    """Run a displaced pipeline command, read again from its author's comment."""
    comment = github.get_comment(ticket.comment_id)
    if comment is None:
        _finish(github, record, ticket, "skipped", "Not run: its comment was deleted while it waited.")
        return
    if not str(comment.get("issue_url") or "").endswith(f"/issues/{ticket.pr}"):
        log(f"queue: comment {ticket.comment_id} is not on #{ticket.pr}: its ticket is not the action's; ignored")
        return
    body = str(comment.get("body") or "")
    now = parse(body)
    if not isinstance(now, ParsedCommand) or now.name != ticket.command:
        _finish(github, record, ticket, "refused", f"Not run: its comment no longer says /{ticket.command} "
                                                    "(it was edited while it waited). Comment again to run it.")
        return
    user = comment.get("user") if isinstance(comment.get("user"), Mapping) else {}
    taken = dict(payload)
    taken["comment"] = {"id": ticket.comment_id, "body": body, "user": dict(user),
                        "created_at": comment.get("created_at"), "html_url": comment.get("html_url")}
    log(f"queue: GitHub cancelled the waiting job of {ticket.describe()}; running it first")
    outcome = dispatch_one(taken, record, True)
    log(f"queue: {ticket.describe()}: {getattr(outcome, 'outcome', outcome)}")
    _settle(github, record, ticket, outcome, log)


def _tell_replaced(github: QueuePort, event: CommentEvent, command: ParsedCommand, log: Callable[[str], None]) -> None:
    """Displaced commands of this deploy group (one environment), on any open pull request: say
    so where they were asked."""
    environment = environment_of(command)
    for issue in github.pulls(state="open"):
        for record, ticket in tickets_in(github.status_comments(int(issue["number"]))):
            if (ticket.job != DEPLOY_JOB or ticket.environment != environment or ticket.phase != QUEUED
                    or ticket.comment_id >= event.comment_id):
                continue
            conclusion = _run_over(github, ticket, log)
            if conclusion is None:
                continue
            if conclusion == "cancelled":
                why = (f"Replaced: GitHub cancelled its waiting job when a later deploy to `{environment}` was "
                       "queued (GitHub keeps one waiting job per concurrency group; "
                       f"/{command.name} on #{event.number} by @{event.user} runs now).")
            else:
                why = (f"Not run: its workflow run ended ({conclusion}) before the deploy job started "
                       "(a required reviewer may have rejected it).")
            again = f" Comment `/{ticket.command}` again to run it."
            log(f"queue: {ticket.describe()}: {why}")
            _finish(github, record, ticket, "canceled", why + again, phase=REPLACED)
            _react(github, ticket.comment_id, CONFUSED, log)


def _settle(github: QueuePort, record: StatusRecord, ticket: Ticket, outcome: Any, log: Callable[[str], None]) -> None:
    """A ticket whose command was refused before its report began still says queued: end it."""
    if getattr(outcome, "report", None):
        return
    what = str(getattr(outcome, "outcome", "not run")).replace("_", " ")
    _finish(github, record, ticket, "refused", f"Not run ({what}): the reply below says why.")


def _finish(github: QueuePort, record: StatusRecord, ticket: Ticket, state: str, summary: str, *,
            phase: str = NOT_RUN) -> None:
    status = github.status_comment(ticket.pr, record.key)
    status.adopt(record)
    status.update(render(Report(f"/{ticket.command}", state, actor=ticket.requested_by, sha=ticket.sha or None,
                                summary=summary, state_data=replace(ticket, phase=phase).data())), force=True)


def _react(github: QueuePort, comment_id: int, content: str, log: Callable[[str], None]) -> None:
    try:
        github.add_reaction(comment_id, content)
    except KfopsError as exc:
        log(f"warning: could not add the {content} reaction: {exc.what}")
