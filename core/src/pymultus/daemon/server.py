"""``pymultus daemon``: thick mode's node daemon.

One asyncio loop reads requests from the unix socket and writes answers; a fixed pool
of worker threads (:mod:`pymultus.daemon.pool`) runs the CNI calls through exactly the
code thin mode runs (:func:`pymultus.cli.cnimode.execute`), with one registry kept warm
for the life of the process. See :mod:`pymultus.daemon.protocol` for the wire format.

Life cycle: take the socket (:mod:`pymultus.daemon.listen`); import the kubernetes client and every installed plugin type once; run the setup hooks (caches);
move what that left on the heap out of the garbage collector's way (:func:`settle_heap`);
serve. On SIGTERM/SIGINT ``/readyz`` turns 500, new CNI requests get code 11, the
requests already taken finish and are answered, then the socket is removed and the
process exits. A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from pymultus.cni.errors import PLUGIN_NOT_FOUND
from pymultus.cni.errors import REQUEST_TIMED_OUT
from pymultus.cni.errors import TRY_AGAIN_LATER
from pymultus.cni.errors import CniError
from pymultus.daemon import protocol
from pymultus.daemon.answers import Answer
from pymultus.daemon.answers import answer_from
from pymultus.daemon.answers import cni_response
from pymultus.daemon.answers import describe
from pymultus.daemon.answers import error_response
from pymultus.daemon.listen import DaemonError
from pymultus.daemon.listen import acquire_lock
from pymultus.daemon.listen import bind_socket
from pymultus.daemon.listen import prepare_socket_dir
from pymultus.daemon.listen import refuse_live
from pymultus.daemon.listen import same_file
from pymultus.daemon.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from pymultus.daemon.metrics import Metrics
from pymultus.daemon.pool import CANCELLED
from pymultus.daemon.pool import DONE
from pymultus.daemon.pool import Job
from pymultus.daemon.pool import WorkerPool
from pymultus.daemon.protocol import CniCall
from pymultus.daemon.protocol import HttpError
from pymultus.daemon.protocol import HttpRequest
from pymultus.daemon.services import DEFAULT_SETUP_HOOKS
from pymultus.daemon.services import EXTRAS_KEY
from pymultus.daemon.services import DaemonServices
from pymultus.daemon.services import file_condition

__all__ = ["Daemon", "DaemonConfig", "DaemonError"]

log = logging.getLogger("pymultus.daemon")

#: A request that ran past its deadline (our range: the spec leaves 100+ to plugins).
#: The meta-plugin's hot-plug entry, looked up at the first ``/delegate`` call:
#: ``delegate(environ, config: bytes, attributes: dict, ctx) -> dict | None``
#: (the decoded result for ADD), raising ``CniError``.
HOTPLUG_TARGET = "pymultus.multus.hotplug:delegate"
#: The node's netconf names the shim's type; the daemon runs the meta-plugin for it.
TYPE_ALIASES = {"pymultus-shim": "pymultus"}
#: A ``/cni`` netconf of one of these types is the node's: ``/delegate`` works in its
#: ``cniDir``/``binDir`` (``DaemonServices.node_dirs``).
META_TYPES = frozenset({"pymultus", *TYPE_ALIASES})


@dataclass
class DaemonConfig:
    socket_path: str = protocol.DEFAULT_SOCKET
    workers: int = 8
    #: Requests accepted beyond the busy workers; more get code 11 at once.
    queue: int = 64
    #: Seconds from arrival: not started by then -> code 11; not finished -> 104.
    request_timeout: float = 100.0
    readiness_file: str | None = None
    #: Open connections at once; more are answered code 11 and closed.
    max_connections: int = 512
    #: Seconds a client has to send its request.
    read_timeout: float = 10.0
    #: Seconds to wait for taken requests after SIGTERM.
    drain_timeout: float = 60.0
    setup_hooks: tuple[str, ...] = DEFAULT_SETUP_HOOKS
    preload: bool = True
    max_body: int = protocol.MAX_BODY_BYTES
    #: The daemon's own environment (settings; the node name).
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


# -- the daemon ------------------------------------------------------------------------


class Daemon:
    def __init__(self, config: DaemonConfig) -> None:
        from pymultus.cli.settings import Settings

        self.config = config
        #: Our PYMULTUS_* settings win over a request's (the node operator set them).
        self.own_settings = {k: v for k, v in config.environ.items() if k.startswith("PYMULTUS_")}
        self.settings = Settings.from_environ(config.environ)
        if config.environ.get("PYMULTUS_FSYNC", "") not in ("", "0", "false"):
            from pymultus.engine.atomic import set_durable

            set_durable(True)  # see pymultus.engine.atomic: off by default, as in libcni
        self.registry = self.settings.registry()
        #: ``PYMULTUS_PROFILE_DIR``: profile each CNI call's work in its worker thread
        #: (cProfile) into ``<dir>/<handler>-<COMMAND>-<n>.prof``; off when empty. For
        #: performance work only (it slows every call down; DEVELOPING.md).
        self.profile_dir = config.environ.get("PYMULTUS_PROFILE_DIR", "")
        self._profiled = itertools.count(1)
        self.metrics = Metrics()
        self.services = DaemonServices(
            node_name=config.environ.get("PYMULTUS_NODE_NAME", ""), environ=config.environ
        )
        self.pool = WorkerPool(
            config.workers,
            config.queue,
            thread_setup=_netns_guard,
            on_worker_lost=self._worker_lost,
        )
        self.draining = False
        self._force = False
        self._connections = 0
        self._cni_active = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._hotplug: Callable[..., dict[str, Any] | None] | None = None
        self._register_metrics()
        self._register_readiness()

    # -- preparation -------------------------------------------------------------------

    def _register_metrics(self) -> None:
        m = self.metrics
        m.gauge(
            "pymultus_queue_depth",
            "Requests accepted and waiting for a worker.",
            lambda: self.pool.queued,
        )
        m.gauge("pymultus_requests_in_flight", "Requests being run.", lambda: self.pool.running)
        m.gauge(
            "pymultus_workers", "Worker threads able to take requests.", lambda: self.pool.alive
        )
        m.gauge(
            "pymultus_queue_limit",
            "Requests the daemon accepts beyond its busy workers.",
            lambda: self.pool.queue_limit,
        )
        m.gauge("pymultus_connections", "Open client connections.", lambda: self._connections)
        m.gauge("pymultus_ready", "1 when every readiness condition holds.", self._ready_now)
        m.labelled_gauge(
            "pymultus_cache_objects",
            "Objects held by each cache the daemon keeps.",
            self.services.cache_sizes,
        )
        self.services.export_gauges(m.gauge)

    def _register_readiness(self) -> None:
        self.services.readiness.add(
            "shutdown",
            lambda: (False, "shutting down") if self.draining else (True, "serving"),
        )
        if self.config.readiness_file:
            self.services.readiness.add(
                "readiness-file", file_condition(self.config.readiness_file)
            )

    def _ready_now(self) -> int:
        return 1 if self.services.readiness.ready() else 0

    def preload(self) -> None:
        """Pay the imports once: the kubernetes client and every installed Python plugin
        type (thin mode pays them on every call that needs them). pyroute2 is not among
        them: the shared netlink helpers do not use it, and a third-party type that does
        imports it when its module loads here, or on its first call."""
        t0 = time.monotonic()
        for module in ("kubernetes.client", "kubernetes.config"):
            try:
                importlib.import_module(module)
            except ImportError as exc:
                log.warning("%s is not importable: %s", module, exc)
        for ref in self.registry.python_types():
            try:
                self.registry.load_python_type(ref.name)
            except CniError as exc:
                # Thin mode reports this per call; so do we, but say it now too.
                log.error("plugin type %s does not load: %s", ref.name, exc)
        log.info("preloaded libraries and plugin types in %.0f ms", (time.monotonic() - t0) * 1000)

    def run_setup_hooks(self) -> None:
        for target in self.config.setup_hooks:
            fn = _lookup(target)
            if fn is None:
                log.debug("setup hook %s is not installed; skipped", target)
                continue
            log.info("running setup hook %s", target)
            fn(self.services)

    def _worker_lost(self) -> None:
        log.error("a worker thread retired; starting a new one")
        loop = self._loop
        if loop is not None and not loop.is_closed():
            # Started from the loop's thread, which is in the daemon's own namespaces.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.pool.add_worker)

    # -- running -----------------------------------------------------------------------

    def run(self) -> int:
        """Take the socket, get warm, serve until a signal, drain, clean up. Returns the
        exit status. The socket appears only once the daemon can answer: a shim that
        comes earlier finds no socket and retries within its connect timeout."""
        cfg = self.config
        directory = os.path.dirname(cfg.socket_path) or "."
        prepare_socket_dir(directory)
        lock_fd = acquire_lock(cfg.socket_path)
        previous = signal.signal(signal.SIGTERM, _stop_before_serving)
        try:
            refuse_live(cfg.socket_path)  # fail fast, before the slow part
            if cfg.preload:
                self.preload()
            self.run_setup_hooks()
            settle_heap()
            sock = bind_socket(cfg.socket_path, backlog=max(128, cfg.max_connections))
            st = os.lstat(cfg.socket_path)
            ident = (st.st_dev, st.st_ino)
            try:
                return asyncio.run(self.serve(sock))
            finally:
                sock.close()
                if same_file(cfg.socket_path, ident):
                    with contextlib.suppress(OSError):
                        os.unlink(cfg.socket_path)
        except _StopBeforeServing:
            log.info("signal received while starting: stopped before serving")
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.services.shutdown()
            os.close(lock_fd)

    async def serve(self, sock: socket.socket, *, handle_signals: bool = True) -> int:
        """Serve on the listening ``sock`` until :meth:`request_shutdown` (SIGTERM or
        SIGINT when ``handle_signals``, which needs the main thread) has drained."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stopped = asyncio.Event()
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, self.request_shutdown)
        self.pool.start()
        self.services.start()
        server = await asyncio.start_unix_server(
            self._on_connection, sock=sock, limit=protocol.MAX_HEADER_BYTES
        )
        log.info(
            "pymultus daemon serving on %s (%d workers, queue %d, request timeout %gs)",
            self.config.socket_path,
            self.config.workers,
            self.config.queue,
            self.config.request_timeout,
        )
        try:
            await self._stopped.wait()
        finally:
            server.close()
            self.pool.close()
            self.services.shutdown()
            for sig in signals:
                loop.remove_signal_handler(sig)
        abandoned = self.pool.running + self.pool.queued
        if abandoned:
            log.warning("stopped with %d request(s) unfinished", abandoned)
            return 1
        log.info("pymultus daemon stopped")
        return 0

    def request_shutdown(self) -> None:
        if self.draining:
            log.warning("second signal: stopping now")
            self._force = True
            if self._stopped is not None:
                self._stopped.set()
            return
        log.info(
            "signal received: not ready, refusing new requests, draining %d running and %d queued",
            self.pool.running,
            self.pool.queued,
        )
        self.draining = True
        assert self._loop is not None
        self._loop.create_task(self._drain())

    async def _drain(self) -> None:
        assert self._loop is not None and self._stopped is not None
        deadline = self._loop.time() + self.config.drain_timeout
        while not self._force and self._loop.time() < deadline:
            if self._cni_active == 0 and self.pool.idle():
                break
            await asyncio.sleep(0.02)
        self._stopped.set()

    # -- connections -------------------------------------------------------------------

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._connections += 1
        try:
            try:
                req = await asyncio.wait_for(
                    protocol.read_request(reader, writer, self.config.max_body),
                    self.config.read_timeout,
                )
            except HttpError as exc:
                await self._write(writer, error_response(exc.status, exc.message))
                return
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                return
            if self._connections > self.config.max_connections:
                err = CniError(
                    TRY_AGAIN_LATER,
                    "pymultus daemon has too many open connections; try again later",
                    f"limit {self.config.max_connections}",
                )
                answer = Answer("", error=err, status=503, result="rejected")
                await self._write(writer, cni_response(req, answer))
                return
            cni = req.path in ("/cni", "/delegate")
            if cni:
                # Counted until the answer is written: the drain after SIGTERM waits.
                self._cni_active += 1
            try:
                await self._write(writer, await self._route(req))
            finally:
                if cni:
                    self._cni_active -= 1
        except Exception:
            log.exception("connection handler failed")
        finally:
            self._connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        try:
            writer.write(data)
            await writer.drain()
        except ConnectionError as exc:
            log.info("client went away before its answer: %s", exc)

    async def _route(self, req: HttpRequest) -> bytes:
        path = req.path
        if path in ("/cni", "/delegate"):
            if req.method != "POST":
                return error_response(405, f"{path} takes POST", {"Allow": "POST"})
            return await self._cni(req, path)
        if path == "/healthz":
            if req.method not in ("GET", "POST"):
                return error_response(405, "/healthz takes GET", {"Allow": "GET, POST"})
            return protocol.encode_response(200, b"ok\n")
        if path == "/readyz":
            if req.method != "GET":
                return error_response(405, "/readyz takes GET", {"Allow": "GET"})
            return self._readyz()
        if path == "/metrics":
            if req.method != "GET":
                return error_response(405, "/metrics takes GET", {"Allow": "GET"})
            body = self.metrics.render().encode()
            return protocol.encode_response(200, body, content_type=METRICS_CONTENT_TYPE)
        return error_response(404, f"no such endpoint {path}")

    def _readyz(self) -> bytes:
        results = self.services.readiness.evaluate()
        lines = [f"[{'+' if ok else '-'}]{name} {detail}" for name, ok, detail in results]
        ready = all(ok for _, ok, _ in results)
        lines.append("readyz check passed" if ready else "readyz check failed")
        body = ("\n".join(lines) + "\n").encode()
        return protocol.encode_response(200 if ready else 500, body)

    # -- CNI requests --------------------------------------------------------------------

    async def _cni(self, req: HttpRequest, path: str) -> bytes:
        t0 = time.monotonic()
        handler = path.lstrip("/")
        try:
            call = protocol.decode_call(req.body, delegate=handler == "delegate")
        except CniError as exc:
            answer = Answer("", error=exc, status=400, result="bad_request")
            self.metrics.observe(handler, "", answer.result, time.monotonic() - t0)
            return cni_response(req, answer)
        command = call.command
        if self.draining:
            answer = Answer(
                command,
                error=CniError(
                    TRY_AGAIN_LATER, "pymultus daemon is shutting down; try again later"
                ),
                status=503,
                result="rejected",
            )
        else:
            answer = await self._submit(call, handler, t0)
        response = cni_response(req, answer)
        elapsed = time.monotonic() - t0
        self.metrics.observe(handler, command, answer.result, elapsed)
        self._log_answer(handler, call, answer, t0, elapsed)
        return response

    async def _submit(self, call: CniCall, handler: str, t0: float) -> Answer:
        assert self._loop is not None
        loop = self._loop
        fut: asyncio.Future[Job] = loop.create_future()

        def done(job: Job) -> None:
            def settle() -> None:
                if not fut.done():
                    fut.set_result(job)

            with contextlib.suppress(RuntimeError):  # loop closed after a forced stop
                loop.call_soon_threadsafe(settle)

        timeout = self.config.request_timeout
        job = Job(
            (lambda: self._profiled_execute(call, handler))
            if self.profile_dir
            else (lambda: self._execute(call, handler)),
            key=call.container_id or None,
            deadline=t0 + timeout,
            on_done=done,
            # The spec keeps GC apart from ADD and DEL: it waits for those running,
            # and those arriving meanwhile wait for it (not only per container: GC
            # decides which of all the containers' attachments are stale).
            exclusive=handler == "cni" and call.command == "GC",
        )
        if not self.pool.submit(job):
            return Answer(
                call.command,
                error=CniError(
                    TRY_AGAIN_LATER,
                    "pymultus daemon is busy; try again later",
                    f"{self.pool.running} requests running and {self.pool.queued} queued "
                    f"(limit {self.pool.capacity})",
                ),
                status=503,
                result="rejected",
            )
        remaining = max(0.0, t0 + timeout - time.monotonic())
        finished, _ = await asyncio.wait({fut}, timeout=remaining)
        if finished and fut.result().state != CANCELLED:
            return answer_from(call.command, fut.result())
        if finished or self.pool.cancel(job):
            return Answer(
                call.command,
                error=CniError(
                    TRY_AGAIN_LATER,
                    f"pymultus daemon could not start the request within {timeout:g}s; "
                    "try again later",
                    describe(call),
                ),
                status=503,
                result="rejected",
            )
        if job.state == DONE:
            # It finished between the wait's timeout and the cancel (its completion
            # not yet delivered to this loop): the client gets what it really did.
            return answer_from(call.command, job)
        return Answer(
            call.command,
            error=CniError(
                REQUEST_TIMED_OUT,
                f"{call.command} did not finish within {timeout:g}s "
                "(the daemon lets it complete; a later call of this container waits for it)",
                describe(call),
            ),
            status=504,
            result="timeout",
        )

    def _profiled_execute(self, call: CniCall, handler: str) -> dict[str, Any] | None:
        """:meth:`_execute` under cProfile (``PYMULTUS_PROFILE_DIR``)."""
        import cProfile

        name = f"{handler}-{call.command or 'none'}-{next(self._profiled):05d}.prof"
        prof = cProfile.Profile()
        try:
            return prof.runcall(self._execute, call, handler)
        finally:
            with contextlib.suppress(OSError):
                prof.dump_stats(os.path.join(self.profile_dir, name))

    def _execute(self, call: CniCall, handler: str) -> dict[str, Any] | None:
        """Runs in a worker thread: the same dispatch as thin mode."""
        from pymultus.cli import cnimode
        from pymultus.cli.settings import Settings

        settings = Settings.from_environ({**call.env, **self.own_settings})
        extras = {EXTRAS_KEY: self.services}
        if handler == "cni":
            self.services.note_node_netconf(call.config, META_TYPES)
            return cnimode.execute(
                call.env,
                call.config,
                cnimode.META_TYPE,
                settings=settings,
                registry=self.registry,
                extras=extras,
                aliases=TYPE_ALIASES,
            )
        fn = self._hotplug_fn()
        ctx = settings.plugin_context(self.registry)
        ctx.extras.update(extras)
        return fn(call.env, call.config, call.attributes or {}, ctx)

    def _hotplug_fn(self) -> Callable[..., dict[str, Any] | None]:
        if self._hotplug is None:
            fn = _lookup(HOTPLUG_TARGET)
            if fn is None:
                raise CniError(
                    PLUGIN_NOT_FOUND,
                    "hot-plug (/delegate) is not available: the meta-plugin's "
                    f"{HOTPLUG_TARGET} is not installed",
                )
            self._hotplug = fn
        return self._hotplug

    def _log_answer(
        self, handler: str, call: CniCall, answer: Answer, t0: float, elapsed: float
    ) -> None:
        """One line per call, with its time from arrival to the answer ready to send and
        where it went: waiting for a worker, running in it, the rest (decoding, the
        hand-offs between the event loop and the worker, rendering the answer)."""
        what = f"{handler} {call.command or '-'} {describe(call)}"
        split = ""
        if answer.ran is not None:
            started, ended = answer.ran
            split = (
                f" (queued {(started - t0) * 1000:.1f}, ran {(ended - started) * 1000:.1f},"
                f" handed back {(t0 + elapsed - ended) * 1000:.1f})"
            )
        if answer.error is None:
            log.info("%s: ok in %.1f ms%s", what, elapsed * 1000, split)
        else:
            err = answer.error
            log.warning(
                "%s: error %d (%s) in %.1f ms%s", what, err.code, err, elapsed * 1000, split
            )


def settle_heap() -> None:
    """Collect once, then freeze what is left (``gc.freeze``): the modules, classes and
    caches loaded at start stay for the life of the process, and a full collection
    that walks them all (~37 ms with pyroute2 and the kubernetes client loaded,
    measured: about once per hundred requests, inside whichever request triggered it)
    then only walks what was allocated since."""
    import gc

    gc.collect()
    gc.freeze()


class _StopBeforeServing(Exception):
    pass


def _stop_before_serving(signum: int, frame: object) -> None:
    raise _StopBeforeServing


def _lookup(target: str) -> Callable[..., Any] | None:
    """``module:function`` imported now, or ``None`` when the module does not exist.
    A module that exists but fails to import is an error, never silently skipped."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            return None
        raise
    fn = getattr(module, attr, None) if attr else None
    if fn is None or not callable(fn):
        return None
    return fn  # type: ignore[no-any-return]


def _netns_guard() -> Callable[[], None]:
    """Per worker: remember the thread's network namespace; after each job, check the
    thread is back in it (a plugin that leaves a worker in a pod's namespace would put
    the next pod's interfaces in the wrong place). A failing check retires the worker."""
    from pymultus.net.ns import current_ns_path

    st = os.stat(current_ns_path())
    home = (st.st_dev, st.st_ino)

    def check() -> None:
        cur = os.stat(current_ns_path())
        if (cur.st_dev, cur.st_ino) != home:
            raise RuntimeError(
                f"worker {threading.current_thread().name} was left in another network namespace"
            )

    return check
