"""Postfix as a throughput peer: smtp-source -> private Postfix -> smtp-sink, on loopback.

Importable (``run_postfix_peer``) and runnable::

    python bench/postfix_peer.py --messages 20000 --size 4096

Only the standard library is used. Everything runs in a throw-away directory; the one change
outside it is the ``alternate_config_directories`` entry in the machine's Postfix main.cf,
which Postfix requires before it accepts ``-c DIR`` and which is removed again on exit (an
empty main.cf is created for it, and removed again, when the package left none).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
DEFAULT_CONFIG_DIR = Path("/etc/postfix")
DEFAULT_MAIN_CF = DEFAULT_CONFIG_DIR / "main.cf"
ALT_PARAM = "alternate_config_directories"
DIR_PREFIX = "relaylane-pfpeer-"  # private instances live in tempfile.gettempdir()/DIR_PREFIX*
# Serialises edits of the machine's main.cf between peers started at the same time.
LOCK_PATH = Path(tempfile.gettempdir()) / "relaylane-postfix-peer.lock"
# Present while main.cf exists only because a peer created it (Debian "No configuration").
CREATED_MARKER = Path(tempfile.gettempdir()) / "relaylane-postfix-peer.created-main-cf"

# Every long-lived tool runs under this small guard: python -c _GUARD MODE PARENT CMD...
# (PARENT: the pid of the benchmark process, passed in so a death before start counts).
# - It is a child subreaper: the daemons master(8) leaves behind when it stops are reaped
#   here rather than lingering as zombies, and the guard exits (with CMD's status) only once
#   every process under it is gone.
# - If the benchmark dies without cleaning up (SIGKILL, or SIGTERM without a handler, as
#   with `timeout`), it stops CMD: MODE "postfix" runs `postfix -c DIR stop`, MODE "kill"
#   sends SIGTERM. In "kill" mode SIGTERM/SIGINT sent to the guard are passed on to CMD;
#   in "postfix" mode the guard ignores SIGTERM (a SIGTERM to its group is for postfix-script).
_GUARD = r"""
import ctypes, os, signal, subprocess, sys, time
mode, parent, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
try:
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
except Exception:
    pass
child = os.fork()
if child == 0:
    os.execvp(cmd[0], cmd)
def stop(signum=None, frame=None):
    if mode == "postfix":
        subprocess.run([*cmd[:-1], "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    else:
        try:
            os.kill(child, signal.SIGTERM)
        except ProcessLookupError:
            pass
if mode == "postfix":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
code, orphaned = 0, False
while True:
    try:
        pid, status = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    if pid == child:
        code = os.waitstatus_to_exitcode(status)
    if pid:
        continue
    if not orphaned and os.getppid() != parent:
        orphaned = True
        stop()
    time.sleep(0.1)
sys.exit(code if code >= 0 else 128 - code)
"""


@dataclass
class PeerResult:
    messages: int
    size: int
    seconds: float  # smtp-source start -> Postfix queue empty (end to end)
    msgs_per_sec: float  # messages / seconds
    intake_seconds: float  # smtp-source start -> smtp-source exit
    delivered: int  # `status=sent` lines in Postfix's log
    note: str = ""  # non-empty when the run is incomplete (delivered < messages, timeout)

    @property
    def intake_msgs_per_sec(self) -> float:
        return self.messages / self.intake_seconds if self.intake_seconds > 0 else 0.0

    @property
    def complete(self) -> bool:
        return self.delivered >= self.messages and not self.note


def which(tool: str) -> str:
    """Path of a Postfix tool, also looking in the sbin directories a user PATH may lack."""
    found = shutil.which(tool) or shutil.which(tool, path=os.pathsep.join(SBIN_DIRS))
    if found is None:
        raise FileNotFoundError(f"{tool} not found; run bench/ensure-postfix.sh")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_accepting(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _accepts(port):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before listening")
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not accept connections on 127.0.0.1:{port} in {timeout}s")


def _stop_process(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Terminate a process started with start_new_session=True, with its process group.

    Signals go only while the leader is unreaped, so its pid (= group id) is still ours.
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(grace)


def start_sink(port: int, extra_args: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """smtp-sink on 127.0.0.1:port, ready for connections (as root it needs -u USER).

    extra_args go before the address, for example ``["-f", "RCPT", "-B", "550 5.1.1 ..."]``
    to give every recipient a hard 5xx with that reply (see ``man smtp-sink``).

    The process returned is smtp-sink's guard: terminate()/wait() it as if it were
    smtp-sink, which also stops by itself should the calling process die.
    """
    cmd = [which("smtp-sink"), "-u", "nobody", *extra_args, f"127.0.0.1:{port}", "1000"]
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [sys.executable, "-c", _GUARD, "kill", str(os.getpid()), *cmd],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,  # a file, not a pipe nobody reads: it can never block smtp-sink
            start_new_session=True,
        )
        try:
            _wait_accepting(port, proc, "smtp-sink", timeout=10)
        except BaseException:
            _stop_process(proc)
            errors.seek(0)
            err = errors.read().decode(errors="replace").strip()
            raise RuntimeError(f"smtp-sink failed to start: {err}") from None
    return proc


# ---------------------------------------------------------------------------------------------
# alternate_config_directories in the machine's main.cf


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold back Ctrl-C/SIGTERM (main thread only) so a cleanup step cannot be cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in sigs}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if caught:
            handler = old[signal.Signals(caught[0])]
            if callable(handler):
                handler(caught[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(caught[0])


@contextlib.contextmanager
def _main_cf_lock() -> Iterator[None]:
    with open(LOCK_PATH, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _postconf(*args: str) -> str:
    done = subprocess.run(
        [which("postconf"), *args], capture_output=True, text=True, check=False, timeout=30
    )
    if done.returncode != 0:
        raise RuntimeError(f"postconf {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def _split_list(value: str) -> list[str]:
    return [item for item in re.split(r"[\s,]+", value) if item]


def _alt_dirs_explicit() -> str | None:
    """The value set in main.cf, or None when the parameter is not set there."""
    if not DEFAULT_MAIN_CF.exists():
        return None
    out = _postconf("-n", ALT_PARAM)
    if not out.strip():
        return None
    return out.split("=", 1)[1].strip()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale_entry(entry: str) -> bool:
    """An entry left by a peer killed before it could clean up (SIGKILL, OOM, power loss)."""
    root = Path(entry).parent
    if (
        Path(entry).name != "etc"
        or root.parent != Path(tempfile.gettempdir())
        or not root.name.startswith(DIR_PREFIX)
    ):
        return False  # not ours: never touched
    if not root.exists():
        return True
    try:
        owner = int((root / "owner.pid").read_text())
    except (OSError, ValueError):
        return False
    if _pid_alive(owner):
        return False
    with contextlib.suppress(OSError, ValueError, IndexError):
        master = int((root / "spool" / "pid" / "master.pid").read_text().split()[0])
        if _pid_alive(master):
            return False
    return True


def _collect_stale() -> None:
    """Drop entries (and directories) of dead peers; call with the main.cf lock held."""
    entries = _split_list(_alt_dirs_explicit() or "")
    stale = [e for e in entries if _stale_entry(e)]
    if not stale:
        return
    keep = [e for e in entries if e not in stale]
    if keep:
        _postconf("-e", f"{ALT_PARAM} = {', '.join(keep)}")
    else:
        _postconf("-X", ALT_PARAM)
    for entry in stale:
        shutil.rmtree(Path(entry).parent, ignore_errors=True)


class _Registration:
    """Adds one directory to alternate_config_directories; undo() takes it out again."""

    def __init__(self, config_dir: str) -> None:
        if re.search(r"[\s,]", config_dir):
            raise ValueError(f"config directory must not contain spaces or commas: {config_dir}")
        self.config_dir = config_dir
        self.previous: str | None = None
        self.active = False

    def do(self) -> None:
        with _signals_deferred(), _main_cf_lock():
            self.active = True  # from here on, undo() has something to check
            if not DEFAULT_MAIN_CF.exists():
                # Debian's "No configuration" install has no main.cf, and postconf -e cannot
                # edit a missing file. Create an empty one and remember to remove it.
                CREATED_MARKER.touch()
                DEFAULT_MAIN_CF.touch()
            _collect_stale()
            self.previous = _alt_dirs_explicit()
            entries = _split_list(self.previous or "")
            if self.config_dir not in entries:
                value = ", ".join([*entries, self.config_dir])
                _postconf("-e", f"{ALT_PARAM} = {value}")

    def undo(self) -> None:
        if not self.active:
            return
        with _signals_deferred(), _main_cf_lock():
            current = _alt_dirs_explicit()
            entries = _split_list(current or "")
            previous = _split_list(self.previous or "")
            if entries == [*previous, self.config_dir] or entries == previous:
                restored = self.previous  # unchanged by anyone else: restore verbatim
            else:  # another peer edited it meanwhile: take out only our entry
                remaining = [e for e in entries if e != self.config_dir]
                restored = ", ".join(remaining) if remaining else None
            if restored is None:
                if current is not None:
                    _postconf("-X", ALT_PARAM)
            elif restored != current:
                _postconf("-e", f"{ALT_PARAM} = {restored}")
            if CREATED_MARKER.exists() and DEFAULT_MAIN_CF.exists():
                if DEFAULT_MAIN_CF.read_text().strip() == "":
                    DEFAULT_MAIN_CF.unlink()
                    CREATED_MARKER.unlink()
            elif CREATED_MARKER.exists():
                CREATED_MARKER.unlink()
            self.active = False


# ---------------------------------------------------------------------------------------------
# the private instance


def _master_cf(port: int) -> str:
    """The packaged master.cf, with smtpd on 127.0.0.1:port and no chroot anywhere."""
    out = []
    for line in Path(DEFAULT_CONFIG_DIR / "master.cf").read_text().splitlines():
        fields = line.split()
        if line[:1] not in ("", "#", " ", "\t") and len(fields) >= 8:
            if fields[0] == "smtp" and fields[1] == "inet":
                fields[0] = f"127.0.0.1:{port}"
            # A chrooted daemon would need copies of /etc files inside the private spool.
            fields[4] = "n"
            line = " ".join(fields[:7]) + " " + " ".join(fields[7:])
        out.append(line)
    if not any(line.startswith(f"127.0.0.1:{port} ") for line in out):
        raise RuntimeError("no 'smtp inet' service in /etc/postfix/master.cf")
    return "\n".join(out) + "\n"


def _main_cf(
    root: Path, sink_port: int, transport: bool = False, sender_relay: bool = False
) -> str:
    return (
        f"""\
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
maillog_file = /dev/stdout
myhostname = peer.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:{sink_port}
smtp_tls_security_level = none
default_destination_concurrency_limit = 20
# nothing is delivered locally: skip the (missing) /etc/aliases and NIS lookups
alias_maps =
alias_database =
local_recipient_maps =
biff = no
"""
        + (f"transport_maps = hash:{root}/etc/transport\n" if transport else "")
        + (
            f"sender_dependent_relayhost_maps = hash:{root}/etc/sender_relay\n"
            if sender_relay
            else ""
        )
    )


def _transport_map(transport: Mapping[str, str]) -> str:
    """transport(5) lines; a bracketed nexthop ("smtp:[127.0.0.1]:PORT") needs no DNS.
    The same form serves sender_dependent_relayhost_maps ("@tx.test" -> "[127.0.0.1]:P")."""
    lines = []
    for domain, nexthop in transport.items():
        if not domain or not nexthop or re.search(r"\s", domain + nexthop):
            raise ValueError(f"bad transport map entry: {domain!r} -> {nexthop!r}")
        lines.append(f"{domain} {nexthop}")
    return "\n".join(lines) + "\n"


class PrivatePostfix:
    """A Postfix instance in its own temporary directory, relaying everything to sink_port.

    ``with PrivatePostfix(sink_port) as pf:`` -- pf.port takes SMTP on 127.0.0.1.
    Log lines (Postfix's stdout) are read in a thread: ``sent`` counts ``status=sent``.

    ``transport={"bounces.example.test": "smtp:[127.0.0.1]:2526"}`` routes those domains
    elsewhere instead (DIR/etc/transport, postmap'ed, as ``transport_maps``): this is how
    the bounces Postfix generates (sent to the envelope sender) reach a bounce receiver.

    ``sender_relay={"@tx.acme.test": "[127.0.0.1]:2527"}`` relays mail from those senders
    to its own next hop (``sender_dependent_relayhost_maps``): how a Postfix site keeps
    transactional mail apart from a bulk stream.
    """

    def __init__(
        self,
        sink_port: int,
        port: int | None = None,
        *,
        transport: Mapping[str, str] | None = None,
        sender_relay: Mapping[str, str] | None = None,
    ) -> None:
        self.sink_port = sink_port
        self.port = port if port is not None else free_port()
        self.transport = dict(transport or {})
        self.sender_relay = dict(sender_relay or {})
        self.root: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.sent = 0
        self.deferred = 0
        self.bounced = 0
        self.tail: collections.deque[str] = collections.deque(maxlen=40)
        self._reg: _Registration | None = None
        self._reader: threading.Thread | None = None

    @property
    def config_dir(self) -> str:
        assert self.root is not None
        return str(self.root / "etc")

    def __enter__(self) -> PrivatePostfix:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
        self.root.chmod(0o755)  # Postfix daemons (user postfix) must traverse it
        (self.root / "owner.pid").write_text(f"{os.getpid()}\n")  # see _stale_entry
        for sub in ("etc", "spool", "data"):
            (self.root / sub).mkdir()
        shutil.chown(self.root / "data", user="postfix")
        main_cf = _main_cf(
            self.root,
            self.sink_port,
            transport=bool(self.transport),
            sender_relay=bool(self.sender_relay),
        )
        (self.root / "etc" / "main.cf").write_text(main_cf)
        (self.root / "etc" / "master.cf").write_text(_master_cf(self.port))

        self._reg = _Registration(self.config_dir)
        self._reg.do()
        if self.transport:
            self._postmap("transport", self.transport)
        if self.sender_relay:
            self._postmap("sender_relay", self.sender_relay)

        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-c", _GUARD, "postfix", str(os.getpid())),
                *(which("postfix"), "-c", self.config_dir, "start-fg"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us, and we stop Postfix in order
        )
        self._reader = threading.Thread(target=self._read_log, name="postfix-log", daemon=True)
        self._reader.start()
        try:
            _wait_accepting(self.port, self.proc, "postfix start-fg", timeout=30)
        except (RuntimeError, TimeoutError) as e:
            time.sleep(0.2)
            raise RuntimeError(f"{e}\n--- postfix log ---\n" + "\n".join(self.tail)) from None

    def _postmap(self, name: str, table: Mapping[str, str]) -> None:
        assert self.root is not None
        path = self.root / "etc" / name
        path.write_text(_transport_map(table))
        done = subprocess.run(
            [which("postmap"), "-c", self.config_dir, f"hash:{path}"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if done.returncode != 0:
            raise RuntimeError(f"postmap {path} failed: {done.stderr.strip()}")

    def _read_log(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            if b"status=sent" in raw:
                self.sent += 1
                continue
            if b"status=deferred" in raw:
                self.deferred += 1
            elif b"status=bounced" in raw:
                self.bounced += 1
            self.tail.append(raw.decode(errors="replace").rstrip())

    def queue_empty(self) -> bool:
        """True when `postqueue -p` says "Mail queue is empty" (reads only its first line)."""
        proc = subprocess.Popen(
            [which("postqueue"), "-c", self.config_dir, "-p"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # a long listing is not read: showq just gets EPIPE
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return b"Mail queue is empty" in first

    def wait_empty(self, timeout: float, interval: float = 0.05) -> float:
        """Poll until the queue is empty; returns the seconds waited. TimeoutError if not."""
        start = time.monotonic()
        while True:
            # With Postfix down, postqueue reads the queue directly and may also say "empty".
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError("Postfix is not running")
            if self.queue_empty():
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"Postfix queue not empty after {timeout:.0f}s")
            time.sleep(interval)

    def close(self) -> None:
        with _signals_deferred():
            self._close()

    def _close(self) -> None:
        try:
            if self.proc is not None:
                self._stop()
        finally:
            try:
                if self._reg is not None:
                    self._reg.undo()
            finally:
                if self.root is not None:
                    shutil.rmtree(self.root, ignore_errors=True)
                    self.root = None

    def _live_master(self) -> int | None:
        """PID of this instance's master(8) while it runs (it has a session of its own)."""
        assert self.root is not None
        try:
            pid = int((self.root / "spool" / "pid" / "master.pid").read_text().split()[0])
            if b"master" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except (OSError, ValueError, IndexError):
            pass
        return None

    def _stop(self) -> None:
        assert self.proc is not None
        proc = self.proc
        if proc.poll() is None:
            stop = subprocess.run(
                [which("postfix"), "-c", self.config_dir, "stop"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
                timeout=30,
            )
            if stop.returncode != 0:
                # Still starting up (postfix-script checks before it runs master): end the
                # script; the guard itself ignores SIGTERM and stays to collect the rest.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        # The guard exits once every Postfix process is gone. Until then, stop a master
        # that was not running yet when `postfix stop` looked, and give up after a while.
        deadline = time.monotonic() + 15
        signalled: set[int] = set()
        while proc.poll() is None and time.monotonic() < deadline:
            master = self._live_master()
            if master is not None and master not in signalled:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(master, signal.SIGTERM)
                signalled.add(master)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.1)
        if proc.poll() is None:
            master = self._live_master()
            if master is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(master, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        if proc.stdout is not None:
            proc.stdout.close()


# ---------------------------------------------------------------------------------------------


def run_postfix_peer(
    messages: int = 20000,
    size: int = 4096,
    sessions: int = 10,
    *,
    drain_timeout: float | None = None,
) -> PeerResult:
    """smtp-source -> private Postfix -> smtp-sink; times intake and end-to-end delivery.

    End to end runs from starting smtp-source until `postqueue -p` reports an empty queue;
    intake until smtp-source exits. If the queue has not drained drain_timeout seconds
    after intake (default: max(60, messages / 100)), the result says so in ``note``.
    """
    sink_port = free_port()
    sink = start_sink(sink_port)
    try:
        with PrivatePostfix(sink_port) as pf:
            cmd = [
                which("smtp-source"),
                *("-s", str(sessions), "-m", str(messages), "-l", str(size), "-d"),
                *("-f", "bench@peer.test", "-t", "rcpt@sink.test"),
                f"127.0.0.1:{pf.port}",
            ]
            t0 = time.monotonic()
            source = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            try:
                _, err = source.communicate(timeout=max(120.0, messages / 50))
            finally:
                _stop_process(source)
            intake = time.monotonic() - t0
            note = []
            if source.returncode != 0:
                note.append(f"smtp-source exited {source.returncode}: {err.decode().strip()}")
            if drain_timeout is None:
                drain_timeout = max(60.0, messages / 100)
            try:
                seconds = intake + pf.wait_empty(drain_timeout)
            except (TimeoutError, RuntimeError) as e:
                seconds = time.monotonic() - t0
                note.append(str(e))
            # The log trails the queue by a moment; give the last status=sent lines time.
            settle = time.monotonic() + 3
            while pf.sent < messages and time.monotonic() < settle:
                time.sleep(0.05)
            delivered = pf.sent
            if delivered < messages:
                note.append(
                    f"only {delivered} of {messages} delivered "
                    f"(deferred lines {pf.deferred}, bounced lines {pf.bounced})"
                )
            return PeerResult(
                messages=messages,
                size=size,
                seconds=seconds,
                msgs_per_sec=messages / seconds if seconds > 0 else 0.0,
                intake_seconds=intake,
                delivered=delivered,
                note="; ".join(note),
            )
    finally:
        _stop_process(sink)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--size", type=int, default=4096, help="message size in bytes")
    ap.add_argument("--sessions", type=int, default=10, help="parallel smtp-source sessions")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # run the same cleanup as Ctrl-C

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    try:
        r = run_postfix_peer(args.messages, args.size, args.sessions)
    except KeyboardInterrupt:
        print("postfix peer: interrupted; private instance stopped and removed", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps({**asdict(r), "intake_msgs_per_sec": r.intake_msgs_per_sec}))
    else:
        print(
            f"postfix peer: {r.messages} x {r.size} B, {args.sessions} sessions: "
            f"end to end {r.seconds:.2f} s = {r.msgs_per_sec:,.0f} msg/s; "
            f"intake {r.intake_seconds:.2f} s = {r.intake_msgs_per_sec:,.0f} msg/s; "
            f"delivered {r.delivered}/{r.messages}"
        )
        if r.note:
            print(f"INCOMPLETE: {r.note}")
    return 0 if r.complete else 1


if __name__ == "__main__":
    sys.exit(main())
