"""runplz's Modal helper: drives one modal.Sandbox for runplz (which ships this file inside
its binary and writes it to a private temp file for each call).

Input: one JSON request on stdin (it carries the job's env values: never argv, never a log).
Output: JSON Lines events on stdout; the job's output, live, on stderr; runplz's own
messages on stderr prefixed "runplz: modal: ". Every SDK call runs under runplz's own
deadline (the SDK waits ~60 s for a server it cannot reach). Errors end with one
{"event": "error", "kind": ...} line: token_missing, auth, unreachable, image, capacity,
invalid, not_found, still_running, not_ours or other.
"""

import inspect
import json
import os
import signal
import sys
import threading
import time

import modal

# Every SDK attribute the helper uses, with the keywords it passes: `selfcheck` checks them
# with inspect.signature against the installed package (the real one, and the tests' fake).
SDK_USES = [
    ("App.lookup", ["name", "create_if_missing"]),
    ("Image.from_registry", ["tag", "add_python"]),
    ("Image.from_dockerfile", ["path", "context_dir"]),
    ("Image.apt_install", ["packages"]),
    ("Image.pip_install", ["packages", "index_url", "extra_index_url"]),
    ("Image.add_local_dir", ["local_path", "remote_path", "copy"]),
    ("Image.run_commands", ["commands"]),
    ("Image.env", ["vars"]),
    ("Image.workdir", ["path"]),
    ("Secret.from_dict", ["env_dict"]),
    ("Sandbox.create", ["app", "image", "secrets", "timeout", "tags", "workdir", "gpu", "cpu", "memory"]),
    ("Sandbox.from_id", ["sandbox_id"]),
    ("Sandbox.list", ["app_id", "tags"]),
    ("Sandbox.exec", ["args", "timeout", "workdir", "env", "text"]),
    ("Sandbox.get_tags", []),
    ("Sandbox.poll", []),
    ("Sandbox.terminate", []),
    ("Sandbox.detach", []),
]
EXCEPTIONS = ["AuthError", "ConnectionError", "ImageBuildError", "ResourceExhaustedError",
              "InvalidError", "NotFoundError", "SandboxTimeoutError", "SandboxTerminatedError"]

# The in-sandbox launcher of a detached job: the job runs in the background with its output
# in /runplz/log, under its own deadline ($1 seconds), and leaves its exit code in /runplz/rc.
LAUNCH = r'''
t=$1; shift
mkdir -p /out /runplz
nohup sh -c '
  t=$1; shift
  "$@" >/runplz/log 2>&1 </dev/null &
  job=$!
  echo "$job" >/runplz/pid
  ( sleep "$t"; if kill -0 "$job" 2>/dev/null; then : >/runplz/timed_out; kill -TERM "$job"; sleep 10; kill -KILL "$job"; fi ) >/dev/null 2>&1 </dev/null &
  w=$!
  wait "$job"; rc=$?
  kill "$w" 2>/dev/null
  echo "$rc" >/runplz/rc.tmp && mv /runplz/rc.tmp /runplz/rc
' sh "$t" "$@" >/dev/null 2>&1 </dev/null &
'''


# A detached run's sandbox entry: it lives while the job runs and $1 seconds after (time to
# `runplz collect`), then ends, so a forgotten sandbox stops billing long before its timeout.
KEEP = 'until [ -e /runplz/rc ]; do sleep 2; done; sleep "$1"'

# The attached job, wrapped so that its exit code is also left in /runplz/rc: a run whose
# runplz died can still be asked (`runplz status`, `collect`) like a detached one.
ATTACHED = 'mkdir -p /out /runplz && "$@"; rc=$?; echo "$rc" >/runplz/rc.tmp && mv /runplz/rc.tmp /runplz/rc; exit "$rc"'


# The tag every sandbox runplz creates carries: `list` and `reap` never see or touch a
# sandbox without it (the run id tag alone could be anyone's).
OURS = {"created_by": "runplz"}


# Past rp-collect's refusal (256 MiB), so the archive it sees is refused by size.
MAX_ARCHIVE = 257 << 20


class Deadline(Exception):
    pass


class Fail(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


# Our stdout carries the job's own stdout and, behind runplz's per-call marker, our events;
# one lock so an event never lands inside a chunk of the job's output.
OUT_LOCK = threading.Lock()
MARKER = b""


def emit(event, **fields):
    fields["event"] = event
    line = MARKER + json.dumps(fields).encode() + b"\n"
    with OUT_LOCK:
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()


def say(msg):
    sys.stderr.write("runplz: modal: " + msg + "\n")
    sys.stderr.flush()


def job_output(chunk, out=False):
    """The one place the job's own output goes: its stdout (`out`) to our stdout, where
    runplz passes it on to its own stdout (or stderr under --json); the rest to stderr."""
    if isinstance(chunk, str):
        chunk = chunk.encode("utf-8", "replace")
    if out:
        with OUT_LOCK:
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
    else:
        sys.stderr.buffer.write(chunk)
        sys.stderr.buffer.flush()


def call(what, seconds, fn, on_interrupt=None):
    """fn() under runplz's deadline: the SDK's own can be a minute with no network.
    `on_interrupt(value)`: what to undo if fn still succeeds after a Ctrl-C (a create)."""
    box = {}
    done = threading.Event()

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: B902 - handed to the caller's thread
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=target, daemon=True).start()
    try:
        finished = done.wait(seconds)
    except KeyboardInterrupt:
        # (An Event, not Thread.join: a join interrupted once may not wait again.)
        if on_interrupt is not None and done.wait(15) and "value" in box:
            on_interrupt(box["value"])
        raise
    if not finished:
        raise Deadline("%s: no answer from Modal within %ss" % (what, seconds))
    if "error" in box:
        raise box["error"]
    return box.get("value")


def classify(e):
    name = type(e).__name__
    text = str(e).strip() or name
    if isinstance(e, Fail):
        return e.kind, text
    if isinstance(e, Deadline):
        return "unreachable", text
    if name == "AuthError":
        return ("token_missing" if "Token missing" in text else "auth"), text
    if name == "ConnectionError" and type(e).__module__.startswith("modal"):
        return "unreachable", text
    if name == "ImageBuildError":
        return "image", text
    if name == "ResourceExhaustedError":
        return "capacity", text
    if name == "InvalidError":
        return "invalid", text
    if name == "NotFoundError":
        return "not_found", text
    return "other", "%s: %s" % (name, text)


def on_signal(signum, _frame):
    raise KeyboardInterrupt(signum)


def build_image(req):
    img = None
    for op in req["image"]:
        kind = op.get("op")
        if kind == "from_registry":
            kw = {"add_python": op["add_python"]} if op.get("add_python") else {}
            img = modal.Image.from_registry(op["image"], **kw)
        elif kind == "from_dockerfile":
            img = modal.Image.from_dockerfile(op["path"], context_dir=req["context_dir"])
        elif kind == "apt_install":
            img = img.apt_install(*op["packages"])
        elif kind == "pip_install":
            kw = {k: op[k] for k in ("index_url", "extra_index_url") if op.get(k)}
            img = img.pip_install(*op["packages"], **kw)
        elif kind == "add_local_dir":
            img = img.add_local_dir(op["local_path"], op["remote_path"], copy=op["copy"])
        elif kind == "run_commands":
            img = img.run_commands(*op["commands"])
        elif kind == "env":
            img = img.env(op["vars"])
        elif kind == "workdir":
            img = img.workdir(op["path"])
        else:
            raise Fail("invalid", "unknown image step %r: refusing to build a different image" % kind)
    return img


class Session:
    def __init__(self, req):
        self.req = req
        d = req["deadlines"]
        self.connect_s, self.call_s, self.create_s = d["connect"], d["call"], d["create"]
        self.sb = None
        self.app = None

    def lookup_app(self):
        if self.app is None:
            name = self.req["app"]
            self.app = call("connecting to Modal", self.connect_s,
                            lambda: modal.App.lookup(name, create_if_missing=True))
        return self.app

    def find(self):
        """The run's sandbox: by id, else by its run-id tag (running ones only)."""
        sid = self.req.get("sandbox_id")
        if sid:
            self.lookup_app()
            self.sb = call("finding sandbox " + sid, self.call_s, lambda: modal.Sandbox.from_id(sid))
            return self.sb
        app = self.lookup_app()
        tags = {"runplz_run_id": self.req["run_id"]}
        found = call("listing sandboxes", self.call_s,
                     lambda: list(modal.Sandbox.list(app_id=app.app_id, tags=tags)))
        if not found:
            raise Fail("not_found", "no running Modal sandbox is tagged with run id %s in app %s"
                       % (self.req["run_id"], self.req["app"]))
        self.sb = found[0]
        return self.sb

    def create(self):
        req = self.req
        app = self.lookup_app()
        image = build_image(req)
        secret = modal.Secret.from_dict(req["env"])
        kw = dict(app=app, image=image, secrets=[secret], timeout=int(req["sandbox_timeout"]),
                  tags=dict(OURS, runplz_run_id=req["run_id"], runplz_job=req["job"],
                            runplz_created_at=str(int(time.time()))),
                  workdir="/workspace")
        for k in ("gpu", "cpu", "memory"):
            if req.get(k) is not None:
                kw[k] = req[k]
        keep = req.get("keep_after_job")
        args = ("sh", "-c", KEEP, "sh", str(int(keep))) if keep is not None else ()
        self.sb = call("creating the sandbox", self.create_s, lambda: modal.Sandbox.create(*args, **kw),
                       on_interrupt=self.terminate_new)
        emit("created", sandbox_id=self.sb.object_id)
        say("sandbox %s is up" % self.sb.object_id)
        return self.sb

    def terminate_new(self, sb):
        """A sandbox whose create finished after a Ctrl-C: terminated, and said so."""
        self.sb = sb
        emit("created", sandbox_id=sb.object_id)
        self.terminate()
        say("interrupted while creating: sandbox %s terminated" % sb.object_id)

    def exec(self, *args, **kw):
        return call("starting a command in the sandbox", self.call_s, lambda: self.sb.exec(*args, **kw))

    def job_env(self):
        return {"RUNPLZ_OUT": "/out", "RUNPLZ_RUN_ID": self.req["run_id"]}

    def tar_out(self, path):
        """/out as a tar.gz at `path` (private), streamed out of the sandbox."""
        p = self.exec("tar", "-C", "/out", "-czf", "-", ".", text=False)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        size = 0

        def copy():
            nonlocal size
            with os.fdopen(fd, "wb") as f:
                for chunk in p.stdout:
                    f.write(chunk)
                    size += len(chunk)
                    if size > MAX_ARCHIVE:
                        # runplz refuses it anyway (rp-collect's 256 MiB): stop downloading.
                        say("/out is over %d MiB compressed: stopped bringing it back" % (MAX_ARCHIVE >> 20))
                        return 0
            return p.wait()

        rc = call("bringing /out back", self.call_s * 10, copy)
        if rc != 0:
            raise Fail("other", "tar of /out in the sandbox exited with %s" % rc)
        return size

    def terminate(self):
        if self.sb is None:
            return
        sid = self.sb.object_id
        try:
            call("terminating the sandbox", self.call_s, lambda: self.sb.terminate())
            emit("terminated", sandbox_id=sid)
        except BaseException as e:  # noqa: B902 - said, and the caller goes on
            say("could not terminate sandbox %s (%s); it stops at its own timeout, or run `modal container stop %s`"
                % (sid, classify(e)[1], sid))

    def detach(self):
        if self.sb is not None:
            try:
                self.sb.detach()
            except Exception:  # noqa: BLE001 - only a client-side release
                pass


def stream(src, out):
    for chunk in src:
        job_output(chunk, out)


def run(s):
    """Attached: run the job with its output streamed, then tar /out."""
    req = s.req
    try:
        s.find()
        p = s.exec("sh", "-c", ATTACHED, "sh", *req["command"], timeout=int(req["timeout"]),
                   workdir=req["workdir"], env=s.job_env(), text=False)
        threads = [threading.Thread(target=stream, args=x, daemon=True)
                   for x in ((p.stdout, True), (p.stderr, False))]
        for t in threads:
            t.start()
        ending = "exited"
        try:
            rc = p.wait()
        except KeyboardInterrupt:
            # Ctrl-C: what the job wrote so far still comes back (a second one stops that);
            # runplz's release then terminates the sandbox.
            say("interrupted: bringing /out back before the sandbox is terminated")
            try:
                emit("collected", bytes=s.tar_out(req["archive"]))
            except Exception as e:  # noqa: BLE001 - said; the interrupt goes on
                say("outputs not brought back: %s" % classify(e)[1])
            raise
        except Exception as e:  # noqa: BLE001 - the sandbox ended under the job
            if classify(e)[0] == "unreachable":
                raise  # contact lost: the job may still run; release terminates it
            rc, ending = None, type(e).__name__
        for t in threads:
            t.join(10)
        sb_rc = call("asking the sandbox's state", s.call_s, lambda: s.sb.poll())
        if ending == "SandboxTimeoutError" or (rc is not None and sb_rc == 124 and rc != 0):
            ending, rc = "sandbox_timeout", 124
        elif ending != "exited" or sb_rc is not None:
            ending = "terminated"
        elif rc == -1:
            ending, rc = "timed_out", 124
        emit("ended", ending=ending, code=rc)
        if ending in ("exited", "timed_out"):
            size = s.tar_out(req["archive"])
            emit("collected", bytes=size)
    finally:
        # runplz's release terminates the sandbox, on every exit path.
        s.detach()


def create(s):
    """Acquire: the run's sandbox, idle, tagged; never left behind by a failed create."""
    try:
        s.create()
    except BaseException:
        s.terminate()
        raise
    s.detach()


def start(s):
    """Detached: launch the job in the background inside the sandbox, and return."""
    req = s.req
    s.find()
    p = s.exec("sh", "-c", LAUNCH, "sh", str(int(req["timeout"])), *req["command"],
               workdir=req["workdir"], env=s.job_env())
    rc = call("launching the job", s.call_s, p.wait)
    if rc != 0:
        s.terminate()
        raise Fail("other", "the job's launcher exited with %s in the sandbox" % rc)
    emit("started", sandbox_id=s.sb.object_id)
    s.detach()


def job_state(s):
    """(state, code) of a detached job: running, exited, timed_out, terminated."""
    sb_rc = call("asking the sandbox's state", s.call_s, lambda: s.sb.poll())
    if sb_rc is not None:
        # 0: the entry ended, the job's collect window over; 124: Modal's timeout.
        return {0: "expired", 124: "timed_out"}.get(sb_rc, "terminated"), None
    p = s.exec("sh", "-c", "cat /runplz/rc 2>/dev/null; echo; test -e /runplz/timed_out && echo timed_out; :")
    out = call("reading the job's state", s.call_s, lambda: p.stdout.read())
    words = out.split()
    if not words:
        return "running", None
    code = int(words[0])
    return ("timed_out", code) if "timed_out" in words else ("exited", code)


def status(s):
    s.find()
    state, code = job_state(s)
    emit("status", sandbox_id=s.sb.object_id, state=state, code=code)


def tail(s):
    s.find()
    offset = 0
    while True:
        state, _ = job_state(s)
        p = s.exec("sh", "-c", 'tail -c +"$1" /runplz/log 2>/dev/null; :', "sh", str(offset + 1), text=False)

        def read():
            n = 0
            for chunk in p.stdout:
                job_output(chunk)
                n += len(chunk)
            return n

        offset += call("reading the job's log", s.call_s, read)
        if not s.req.get("follow") or state != "running":
            emit("tailed", sandbox_id=s.sb.object_id, state=state, bytes=offset)
            return
        time.sleep(float(s.req.get("poll_seconds", 2)))


def kill(s):
    s.find()
    sid = s.sb.object_id
    call("terminating the sandbox", s.call_s, lambda: s.sb.terminate())
    emit("terminated", sandbox_id=sid)


def keep_log(s, path):
    """The job's output (/runplz/log) into `path` here (private, replaced: it is all of it),
    before the sandbox goes. Best effort: said, never a failed collect."""
    try:
        p = s.exec("sh", "-c", "cat /runplz/log 2>/dev/null; :", text=False)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

        def copy():
            with os.fdopen(fd, "wb") as f:
                for chunk in p.stdout:
                    f.write(chunk)
            return p.wait()

        call("keeping the job's output", s.call_s, copy)
    except Exception as e:  # noqa: BLE001 - said; the outputs came back all the same
        say("the job's output was not kept here: %s" % classify(e)[1])


def collect(s):
    s.find()
    state, code = job_state(s)
    if state == "running" and not s.req.get("force"):
        raise Fail("still_running", "the job is still running in sandbox %s: wait for it (`runplz status`), or `runplz kill` it first"
                   % s.sb.object_id)
    if state in ("terminated", "expired", "timed_out"):
        raise Fail("not_found", "sandbox %s has ended (%s): its /out is gone" % (s.sb.object_id, state))
    size = s.tar_out(s.req["archive"])
    if s.req.get("log"):
        keep_log(s, s.req["log"])
    emit("collected", bytes=size, state=state, code=code, sandbox_id=s.sb.object_id)
    s.terminate()


def our_tags(sb, s):
    """The sandbox's tags when it carries OURS, else None."""
    tags = call("reading the sandbox's tags", s.call_s, sb.get_tags) or {}
    return tags if all(tags.get(k) == v for k, v in OURS.items()) else None


def list_ours(s):
    """runplz's running sandboxes in its app (tagged OURS; no other is listed), one
    `sandbox` event each with its run's tags (the SDK has no created time: ours is a tag)."""
    name = s.req["app"]
    try:
        # Not create_if_missing: a look must not make the app.
        app = call("connecting to Modal", s.connect_s, lambda: modal.App.lookup(name))
    except Exception as e:  # noqa: BLE001 - only "no such app" is an answer
        if classify(e)[0] != "not_found":
            raise
        emit("listed", count=0)
        return
    found = call("listing sandboxes", s.call_s,
                 lambda: list(modal.Sandbox.list(app_id=app.app_id, tags=dict(OURS))))
    n = 0
    for sb in found:
        tags = our_tags(sb, s)
        if tags is None:
            continue
        created = tags.get("runplz_created_at", "")
        emit("sandbox", sandbox_id=sb.object_id, run_id=tags.get("runplz_run_id"), job=tags.get("runplz_job"),
             created_at=int(created) if created.isdigit() else None)
        n += 1
    emit("listed", count=n)


def reap(s):
    """Terminate sandbox `sandbox_id`, only when it carries OURS and the run id asked for."""
    sid, run_id = s.req["sandbox_id"], s.req["run_id"]
    s.sb = call("finding sandbox " + sid, s.connect_s, lambda: modal.Sandbox.from_id(sid))
    tags = our_tags(s.sb, s)
    if tags is None or tags.get("runplz_run_id") != run_id:
        raise Fail("not_ours", "sandbox %s does not carry runplz's tags for run %s: not touched" % (sid, run_id))
    call("terminating the sandbox", s.call_s, lambda: s.sb.terminate())
    emit("terminated", sandbox_id=sid)


def selfcheck(_s):
    """Every SDK attribute and keyword the helper uses exists in the installed package."""
    missing = []
    for path, params in SDK_USES:
        obj = modal
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if obj is None:
            missing.append(path)
            continue
        have = inspect.signature(obj).parameters
        missing += ["%s(%s=)" % (path, p) for p in params if p not in have]
    import modal.exception as mx
    missing += ["modal.exception." + e for e in EXCEPTIONS if not hasattr(mx, e)]
    if missing:
        raise Fail("invalid", "the installed modal lacks: " + ", ".join(missing))
    emit("ok", version=getattr(modal, "__version__", None), checked=len(SDK_USES) + len(EXCEPTIONS))


ACTIONS = {"create": create, "run": run, "start": start, "status": status, "tail": tail, "kill": kill,
           "collect": collect, "list": list_ours, "reap": reap, "selfcheck": selfcheck}


def main():
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    global MARKER
    req = json.loads(sys.stdin.read())
    MARKER = req.get("marker", "").encode()
    s = Session(req)
    try:
        ACTIONS[req["action"]](s)
        return 0
    except KeyboardInterrupt as e:
        signum = e.args[0] if e.args and isinstance(e.args[0], int) else signal.SIGINT
        sid = s.sb.object_id if s.sb is not None else None
        emit("interrupted", signal=int(signum), sandbox_id=sid)
        return 128 + int(signum)
    except BaseException as e:  # noqa: B902 - every failure becomes one classified line
        kind, text = classify(e)
        emit("error", kind=kind, message=text.splitlines()[0] if text else kind)
        return 1


if __name__ == "__main__":
    sys.exit(main())
