"""Who runs next: a fair, work-conserving order over every waiting job of every run.

RQ's workers take jobs first come, first served, from queues in priority order. This app keeps
the jobs that wait on a queue of its own that no worker listens to (``openms-waiting``, listed
by ``rq info`` and rq-dashboard like any queue) and hands RQ's priority queues, just in time,
only as many jobs as there are idle workers. Which job goes next is decided here, from an order
kept beside that queue in Redis (so every web server and worker on every host shares it), per
priority (high first, as before):

* round the *visitors* (a client address, or the signed-in person once there is sign-in),
* then round the *runs* of a visitor,
* then a run's *jobs* in order (its own job first, then the pieces of a step, see ``pieces.py``).

So a one-file run started after a 200-file study gets the next free worker instead of waiting
for the study's last piece, and no run starves. A visitor has at most
``limits.running_runs_per_client`` runs *admitted* (started) at once; its other runs are *held*
and admitted by themselves, in their order, when one of its runs ends.

Keys (under ``openms:sched:``; they and the job meta key say "client" for a visitor, as stored
by earlier versions, so a queue survives an upgrade): ``clients:<priority>`` and
``runs:<priority>:<visitor>`` the
rotations (lists, with ``*-set`` twins so nothing is listed twice), ``jobs:<run>`` a run's waiting
jobs in order, ``run:<run>`` a hash (client, priority, order of submission), ``admitted:<visitor>``
and ``admitted`` the admitted runs, ``waiting`` (a sorted set, in order of submission) the runs
not admitted yet, ``releasing`` the jobs being moved to an RQ queue (put back if a process dies
in between), ``lent`` the idle workers a run's lone step uses the cores of (:meth:`lend`).

A step that stays one command (linking all maps, a quantification) would leave the host's other
workers idle while every other core waits; when nothing waits for a worker, the run *borrows*
those idle workers of its host for that one step: its tool gets their threads too, and they
count as busy, so no job is handed to them meanwhile. They are given back when the step ends,
and a run that arrived meanwhile starts then: nobody waits longer than one step for them.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import LockError
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.queue import EnqueueData

from src.core.settings import PRIORITIES, Settings
from src.jobs.connection import get_connection
from src.jobs.job_model import ENDED_JOB_STATES, META_RUN, run_group, view_queue_name

log = logging.getLogger(__name__)

PREFIX = "openms:sched:"
#: A job taken from the order and not on an RQ queue after this long is put on one again.
RELEASE_GRACE_SECONDS = 30
#: The lock under which the order is counted and changed by a start (the app's enqueue, the
#: admin's requeue and move) and by a lend, so a run started now is either seen or sees the lend.
ORDER_LOCK = "openms:enqueue-lock"
#: How long a start waits for that lock before it is refused with a message; a lend, before it
#: gives up (the step runs with its own threads).
ORDER_LOCK_WAIT_SECONDS = 5

# Picks the next job: for each priority, round the visitors, then round the runs of the visitor,
# then the run's first waiting job. A run not admitted yet is skipped (held) while its visitor
# has ARGV[1] runs admitted. ARGV: limit, now, priorities... Returns {job id, priority} or nil.
_PICK = """
local limit = tonumber(ARGV[1])
local now = ARGV[2]
local p = "openms:sched:"
for pi = 3, #ARGV do
  local prio = ARGV[pi]
  local visitors = p .. "clients:" .. prio
  for _ = 1, redis.call("LLEN", visitors) do
    local visitor = redis.call("LMOVE", visitors, visitors, "LEFT", "RIGHT")
    if not visitor then break end
    local runs = p .. "runs:" .. prio .. ":" .. visitor
    local admitted_key = p .. "admitted:" .. visitor
    for _ = 1, redis.call("LLEN", runs) do
      local run = redis.call("LMOVE", runs, runs, "LEFT", "RIGHT")
      if not run then break end
      local is_admitted = redis.call("SISMEMBER", admitted_key, run) == 1
      local job = nil
      if is_admitted or tonumber(redis.call("SCARD", admitted_key)) < limit then
        job = redis.call("LPOP", p .. "jobs:" .. run)
      end
      if job then
        if not is_admitted then
          redis.call("SADD", admitted_key, run)
          redis.call("SADD", p .. "admitted", run)
          redis.call("ZREM", p .. "waiting", run)
        end
        if redis.call("LLEN", p .. "jobs:" .. run) == 0 then
          redis.call("LREM", runs, 0, run)
          redis.call("SREM", runs .. "-set", run)
        end
        if redis.call("LLEN", runs) == 0 then
          redis.call("LREM", visitors, 0, visitor)
          redis.call("SREM", visitors .. "-set", visitor)
        end
        redis.call("ZADD", p .. "releasing", now, job)
        return {job, prio}
      end
      if redis.call("LLEN", p .. "jobs:" .. run) == 0 then
        redis.call("LREM", runs, 0, run)
        redis.call("SREM", runs .. "-set", run)
      end
    end
    if redis.call("LLEN", runs) == 0 then
      redis.call("LREM", visitors, 0, visitor)
      redis.call("SREM", visitors .. "-set", visitor)
    end
  end
end
return nil
"""

# Adds waiting jobs at the end of a run's list and puts the run and its visitor into the
# rotations. ARGV: run, visitor, priority, job ids...
_ADD = """
local p = "openms:sched:"
local run, visitor, prio = ARGV[1], ARGV[2], ARGV[3]
for i = 4, #ARGV do redis.call("RPUSH", p .. "jobs:" .. run, ARGV[i]) end
local runs = p .. "runs:" .. prio .. ":" .. visitor
if redis.call("SADD", runs .. "-set", run) == 1 then redis.call("RPUSH", runs, run) end
local visitors = p .. "clients:" .. prio
if redis.call("SADD", visitors .. "-set", visitor) == 1 then redis.call("RPUSH", visitors, visitor) end
return redis.call("LLEN", p .. "jobs:" .. run)
"""

# A run's own job takes one of the run's jobs itself: the first of the ids still waiting in the
# run's order. ARGV: run, then the ids. Returns the id taken, or nil.
_CLAIM = """
local p = "openms:sched:"
for i = 2, #ARGV do
  if redis.call("LREM", p .. "jobs:" .. ARGV[1], 1, ARGV[i]) == 1 then return ARGV[i] end
end
return nil
"""


def _key(*parts: str) -> str:
    return PREFIX + ":".join(parts)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def heard_from(worker: Worker, worker_ttl: int) -> bool:
    """Whether a registered worker still lives. An idle worker beats each time its wait on Redis
    ends (every ``worker_ttl - 15`` s) and a busy one every ``job_monitoring_interval`` s, so one
    silent for ``worker_ttl`` s is gone, though RQ keeps its registration until ``worker_ttl + 60``
    s after its last beat. The beat is the worker's clock: hosts must keep time (NTP)."""
    beat = worker.last_heartbeat
    if beat is None:
        return False
    return (datetime.now(UTC) - beat).total_seconds() < worker_ttl


def _between_jobs(worker: Worker) -> bool:
    """Idle, or busy with no job any more: a worker that has just ended one says "idle" a moment
    later, when it looks for the next (and, nothing waiting, finds none)."""
    state = worker.get_state()
    return state == "idle" or (state == "busy" and worker.get_current_job_id() is None)


def waiting_queue_name(settings: Settings) -> str:
    """The queue no worker listens to, where jobs wait for their turn: ``openms-normal`` gives
    ``openms-waiting``."""
    normal = settings.queue.queue_names["normal"]
    return normal.removesuffix("-normal") + "-waiting"


@dataclass(frozen=True)
class RunPlace:
    """Where a run that waits to be admitted stands."""

    held: bool  # its visitor has its share of runs admitted: it starts when one of them ends
    position: int  # 1-based among the runs not held (a held run: among all), higher priorities first
    waiting_total: int  # runs waiting to be admitted and not held (they wait for a worker), every visitor
    held_position: int | None  # 1-based among this visitor's held runs
    visitor_held: int  # runs of this visitor held now
    share: int  # running runs per visitor


class Scheduler:
    """The order of one deployment (its Redis)."""

    #: Runs waiting to be admitted (a sorted set, scored by submission).
    WAITING_RUNS_KEY = _key("waiting")

    def __init__(self, settings: Settings, connection: Redis | None = None) -> None:
        self.settings = settings
        self.connection = connection or get_connection(settings.queue)
        self.waiting_queue = Queue(waiting_queue_name(settings), connection=self.connection)
        self._pick = self.connection.register_script(_PICK)
        self._add = self.connection.register_script(_ADD)
        self._claim = self.connection.register_script(_CLAIM)

    def _rq_queue(self, priority: str) -> Queue:
        return Queue(self.settings.queue.queue_names[priority], connection=self.connection)

    # ---- runs and their jobs ---------------------------------------------------------------------
    def submit_run(self, job: Job, visitor: str, priority: str) -> None:
        """A new run with its own job (or a failed one the admin requeued): it waits, held or not,
        until a worker is free for it. ``visitor`` is the visitor's key; a run started by code (no
        visitor) is a visitor of its own."""
        visitor = visitor or f"code:{job.id}"
        seq = self.connection.incr(_key("seq"))
        with self.connection.pipeline() as pipe:
            pipe.multi()
            pipe.delete(_key("run", job.id))  # a requeued run's old record, set to expire at its end
            pipe.hset(
                _key("run", job.id),
                mapping={"client": visitor, "priority": priority, "seq": seq, "submitted_at": time.time()},
            )
            pipe.zadd(_key("waiting"), {job.id: seq})
            self._queue_up(job.id, visitor, priority, [job], pipe)
            pipe.execute()

    def add_jobs(self, run_id: str, jobs: list[EnqueueData]) -> list[Job]:
        """More jobs of a run that may run now (the pieces of a step), after its others: created
        (``Queue.prepare_data``) on the waiting queue as members of the run's RQ group, and put in
        the run's order, in one transaction."""
        info = self.run_info(run_id)
        with self.connection.pipeline() as pipe:
            pipe.multi()
            self._add(args=[run_id, info["client"], info["priority"], *(j.job_id for j in jobs)], client=pipe)
            created = run_group(self.connection, run_id).enqueue_many(self.waiting_queue, jobs, pipeline=pipe)
            pipe.execute()  # RQ 3.0's Group.enqueue_many runs the pipeline it is given; then none is left
        return created

    def _queue_up(self, run_id: str, visitor: str, priority: str, jobs: list[Job], pipe) -> None:
        """In one transaction: the jobs on the waiting queue (saved, listed) and in the run's order."""
        if not pipe.explicit_transaction:
            pipe.multi()  # RQ's enqueue_job on a pipeline opens one itself, after our first command
        for job in jobs:
            self.waiting_queue.enqueue_job(job, pipeline=pipe)
        self._add(args=[run_id, visitor, priority, *(j.id for j in jobs)], client=pipe)

    def run_info(self, run_id: str) -> dict[str, str]:
        raw = self.connection.hgetall(_key("run", run_id))
        info = {_text(k): _text(v) for k, v in raw.items()}
        info.setdefault("client", f"code:{run_id}")
        info.setdefault("priority", "normal")
        return info

    def end_run(self, run_id: str) -> list[str]:
        """The run ended (any way): it frees its visitor's share and leaves the order. Returns the
        ids of its jobs that were still waiting (the caller cancels them)."""
        info = self.run_info(run_id)
        waiting = [_text(j) for j in self.connection.lrange(_key("jobs", run_id), 0, -1)]
        runs = _key("runs", info["priority"], info["client"])
        with self.connection.pipeline() as pipe:
            pipe.delete(_key("jobs", run_id))
            pipe.srem(_key("admitted", info["client"]), run_id)
            pipe.srem(_key("admitted"), run_id)
            pipe.zrem(_key("waiting"), run_id)
            pipe.lrem(runs, 0, run_id)
            pipe.srem(runs + "-set", run_id)
            pipe.expire(_key("run", run_id), 3600)
            pipe.execute()
        return waiting

    def claim(self, run_id: str, job_ids: list[str]) -> str | None:
        """For the run's own job: take the first of these jobs that no worker has taken yet (still
        in the order, on an RQ queue, or waiting there to be retried). Each removal is one atomic
        Redis command, so a job is taken by exactly one: this job or a worker."""
        if not job_ids:
            return None
        taken = self._claim(args=[run_id, *job_ids])
        if taken:
            taken = _text(taken)
            self.waiting_queue.remove(taken)
            return taken
        wanted = set(job_ids)
        for priority in PRIORITIES:
            queue = self._rq_queue(priority)
            retries = queue.scheduled_job_registry
            listed = (wanted & set(queue.get_job_ids()), wanted & set(retries.get_job_ids(cleanup=False)))
            for job_id in job_ids:
                if job_id in listed[0] and queue.remove(job_id) == 1:
                    return job_id
                if job_id in listed[1] and retries.remove(job_id) == 1:
                    return job_id
        return None

    # ---- handing jobs to RQ ----------------------------------------------------------------------
    def release(self, slots: int) -> int:
        """Move up to ``slots`` waiting jobs, in the fair order, to RQ's queues; return how many."""
        released = 0
        share = self.settings.limits.running_runs_per_client
        for _ in range(max(0, slots)):
            picked = self._pick(args=[share, time.time(), *PRIORITIES])
            if not picked:
                break
            if self._to_rq(_text(picked[0]), _text(picked[1])):
                released += 1
        return released

    def release_for_idle_workers(self) -> int:
        """Move as many waiting jobs, in the fair order, as there are idle workers with nothing on
        RQ's queues for them (:meth:`idle_slots`); return how many. Every place that may have made
        a worker idle or a job waiting calls this: a start, a step's pieces, a worker about to wait,
        the maintenance pass, the admin's requeue."""
        return self.release(self.idle_slots())

    def _to_rq(self, job_id: str, priority: str) -> bool:
        job = Job.fetch_many([job_id], connection=self.connection)[0]
        waiting = job is not None and job.origin == self.waiting_queue.name
        if not waiting or job.get_status(refresh=False) != JobStatus.QUEUED:
            # cancelled or deleted meanwhile (rq-dashboard, a stop): nothing to run
            log.info("job %s left the order but is no longer waiting; dropped", job_id)
            self.connection.zrem(_key("releasing"), job_id)
            return False
        with self.connection.pipeline() as pipe:
            pipe.multi()
            self.waiting_queue.remove(job_id, pipeline=pipe)
            self._rq_queue(priority).enqueue_job(job, pipeline=pipe)
            pipe.zrem(_key("releasing"), job_id)
            pipe.execute()
        return True

    def idle_slots(self) -> int:
        """Live workers that are idle, less those lent to a run's lone step (:meth:`lend`) and the
        jobs already on RQ's queues that wait for one. A worker that was killed (SIGKILL, its host
        lost) still says "idle" until its registration expires; it is not counted once its
        heartbeat is overdue (``heard_from``)."""
        workers = self._live_workers()
        idle = sum(1 for w in workers if w.get_state() == "idle")
        lent = sum(slots for _, slots in self.lent(workers).values())
        return max(0, idle - lent - self._on_rq_queues())

    def _live_workers(self) -> list[Worker]:
        ttl = self.settings.queue.worker_ttl
        return [w for w in Worker.all(connection=self.connection) if heard_from(w, ttl)]

    def _on_rq_queues(self) -> int:
        view = Queue(view_queue_name(self.settings), connection=self.connection)  # taken first
        return sum(queue.count for queue in [*(self._rq_queue(p) for p in PRIORITIES), view])

    # ---- idle workers lent to a lone step ---------------------------------------------------------
    def lend(self, run_id: str, worker_name: str, host: str, most: int) -> int:
        """Up to ``most`` idle workers of ``host`` lent to the run whose job ``worker_name`` runs,
        for one step (until :meth:`give_back`); returns how many. None when anything waits for a
        worker (a run, a piece, a retry: it goes first) or when the order's lock is not had
        within ``ORDER_LOCK_WAIT_SECONDS``. A lend counts only while that worker lives and still
        runs this run's job, so a run that died mid-step leaves nothing lent."""
        if most <= 0:
            return 0
        lock = self.connection.lock(ORDER_LOCK, timeout=10, blocking_timeout=ORDER_LOCK_WAIT_SECONDS)
        if not lock.acquire():
            return 0
        try:
            if self.queued_count() > 0:
                return 0
            workers = self._live_workers()
            lent = self.lent(workers)
            idle_here = sum(1 for w in workers if w.hostname == host and _between_jobs(w))
            lent_here = sum(slots for lender_host, slots in lent.values() if lender_host == host)
            slots = max(0, min(most, idle_here - lent_here))
            if slots:
                record = json.dumps({"worker": worker_name, "host": host, "slots": slots})
                self.connection.hset(_key("lent"), run_id, record)
            return slots
        finally:
            with suppress(LockError):  # expired meanwhile: the lend stands all the same
                lock.release()

    def give_back(self, run_id: str) -> None:
        """The run's lone step ended: its borrowed workers may take jobs again, at once."""
        if self.connection.hdel(_key("lent"), run_id):
            self.release_for_idle_workers()

    def lent(self, workers: list[Worker] | None = None) -> dict[str, tuple[str, int]]:
        """Run -> (host, workers lent) of the lends that stand: the borrower's worker lives and
        still runs that run. Others (the run's process died mid-step) are dropped."""
        raw = self.connection.hgetall(_key("lent"))
        if not raw:
            return {}
        running = {w.name: w.get_current_job_id() for w in (workers or self._live_workers())}
        standing, stale = {}, []
        for run, value in raw.items():
            run_id = _text(run)
            try:
                record = json.loads(_text(value))
                worker, host, slots = str(record["worker"]), str(record["host"]), int(record["slots"])
            except (ValueError, KeyError, TypeError):
                stale.append(run_id)
                continue
            if running.get(worker) == run_id:
                standing[run_id] = (host, slots)
            else:
                stale.append(run_id)
        if stale:
            self.connection.hdel(_key("lent"), *stale)
        return standing

    def recover_releasing(self, now: float | None = None) -> int:
        """Jobs taken from the order by a process that died before it moved them to RQ's queue."""
        now = time.time() if now is None else now
        stale = [
            _text(raw)
            for raw in self.connection.zrangebyscore(_key("releasing"), "-inf", now - RELEASE_GRACE_SECONDS)
        ]
        for job_id, job in zip(stale, Job.fetch_many(stale, connection=self.connection), strict=True):
            on_waiting = job is not None and job.origin == self.waiting_queue.name
            if on_waiting and job.get_status(refresh=False) == JobStatus.QUEUED:
                run_id = job.meta.get(META_RUN) or job.id
                self._to_rq(job_id, self.run_info(run_id)["priority"])
            else:
                self.connection.zrem(_key("releasing"), job_id)
        return len(stale)

    def ended_runs(self) -> list[str]:
        """Runs still in the order whose own job has ended or is gone (their end was not recorded
        here: a process died at that moment, or the job was cancelled from rq-dashboard)."""
        run_ids = sorted(set(self.admitted_run_ids()) | set(self.waiting_run_ids()))
        ended = []
        for run_id, job in zip(run_ids, Job.fetch_many(run_ids, connection=self.connection), strict=True):
            if job is None or job.get_status(refresh=False) in ENDED_JOB_STATES:
                ended.append(run_id)
        return ended

    def reprioritize(self, run_id: str, priority: str) -> None:
        """A run waiting in the order moves to another priority (the admin's Move)."""
        info = self.run_info(run_id)
        old = _key("runs", info["priority"], info["client"])
        with self.connection.pipeline() as pipe:
            pipe.lrem(old, 0, run_id)
            pipe.srem(old + "-set", run_id)
            pipe.hset(_key("run", run_id), "priority", priority)
            self._add(args=[run_id, info["client"], priority], client=pipe)
            pipe.execute()

    # ---- what the pages and the admin see ---------------------------------------------------------
    def waiting_run_ids(self) -> list[str]:
        """Runs not admitted yet, in order of submission."""
        return [_text(r) for r in self.connection.zrange(_key("waiting"), 0, -1)]

    def admitted_run_ids(self) -> list[str]:
        return sorted(_text(r) for r in self.connection.smembers(_key("admitted")))

    def standing(self) -> list[tuple[str, str, bool]]:
        """Every run waiting to be admitted as (run, visitor, held), higher priorities first, then in
        order of submission. A run is held when the runs of its visitor admitted or ahead of it fill
        the visitor's share: it waits for those to end, not for a worker."""
        order = self.waiting_run_ids()
        with self.connection.pipeline(transaction=False) as pipe:
            for run in order:
                pipe.hmget(_key("run", run), "priority", "client")
            replies = pipe.execute()
        info = [(_text(p), _text(c) or f"code:{run}") for run, (p, c) in zip(order, replies, strict=True)]
        rank = {p: n for n, p in enumerate(PRIORITIES)}
        ranked = sorted(zip(order, info, strict=True), key=lambda item: rank.get(item[1][0], 1))  # stable
        visitors = sorted({visitor for _, (_, visitor) in ranked})
        with self.connection.pipeline(transaction=False) as pipe:
            for visitor in visitors:
                pipe.scard(_key("admitted", visitor))
            share = self.settings.limits.running_runs_per_client
            free = {c: max(0, share - int(n)) for c, n in zip(visitors, pipe.execute(), strict=True)}
        standing = []
        for run, (_, visitor) in ranked:
            standing.append((run, visitor, free[visitor] <= 0))
            free[visitor] -= 1
        return standing

    def place(self, run_id: str) -> RunPlace | None:
        """Where a run waiting to be admitted stands; None once it was admitted (or is unknown).
        A run not held counts only the runs not held ahead of it (held runs wait for their own
        visitor, so they are not ahead of anyone); a held run has its place among its visitor's."""
        standing = self.standing()
        found = next(((visitor, held) for run, visitor, held in standing if run == run_id), None)
        if found is None:
            return None
        visitor, held = found
        ready = [run for run, _, h in standing if not h]
        mine_held = [run for run, c, h in standing if c == visitor and h]
        share = self.settings.limits.running_runs_per_client
        if held:
            everyone = [run for run, _, _ in standing]
            position, held_position = everyone.index(run_id) + 1, mine_held.index(run_id) + 1
            return RunPlace(True, position, len(ready), held_position, len(mine_held), share)
        return RunPlace(False, ready.index(run_id) + 1, len(ready), None, len(mine_held), share)

    def _visitor_of(self, run_id: str) -> str:
        return _text(self.connection.hget(_key("run", run_id), "client"))

    def runs_of(self, visitor: str) -> tuple[int, int]:
        """(admitted, waiting to be admitted) runs of one visitor."""
        admitted = int(self.connection.scard(_key("admitted", visitor)))
        return admitted, sum(1 for r in self.waiting_run_ids() if self._visitor_of(r) == visitor)

    def held_runs_of(self, visitor: str, adding: int = 0) -> int:
        """Runs of this visitor that wait beyond its share of started runs (they are held), with
        ``adding`` more submitted: a new run is counted before it is let in."""
        admitted, waiting = self.runs_of(visitor)
        share = self.settings.limits.running_runs_per_client
        return max(0, waiting + adding - max(0, share - admitted))

    def waiting_count(self) -> int:
        """Runs and jobs waiting, all priorities: in this order, on RQ's queues, and retries waiting
        for their interval."""
        total = self.waiting_queue.count
        for priority in PRIORITIES:
            queue = self._rq_queue(priority)
            total += queue.count + queue.scheduled_job_registry.get_job_count(cleanup=False)
        return total

    def queued_count(self) -> int:
        """Work waiting for a worker: every waiting job less the held runs, which wait for their own
        visitor's runs to end and count against that visitor's ``held_runs_per_client`` only."""
        return self.waiting_count() - self.held_count()

    def held_count(self) -> int:
        """How many runs are held now, every visitor. They wait for their own visitor's runs to end,
        not for a worker, so the queue's size (``max_queued``) does not count them;
        ``limits.held_runs_per_client`` bounds each visitor's."""
        return sum(1 for _, _, held in self.standing() if held)

    def held_runs(self) -> set[str]:
        """The runs held now, every visitor (for the admin page)."""
        return {run for run, _, held in self.standing() if held}
