"""NotebookServerApp: configuration, command line, the tornado Application, start and stop."""

from __future__ import annotations

import asyncio
import atexit
import errno
import gc
import ipaddress
import importlib
import importlib.util
import logging
import os
import pkgutil
import re
import signal
import socket
import sys
import threading
import webbrowser
from typing import TYPE_CHECKING, Any
from urllib.request import pathname2url

from jupyter_core.application import JupyterApp, NoStart, base_aliases, base_flags
from tornado import httpserver, netutil, web
from traitlets import Bool, Integer, List, Type, Unicode, default, validate

import nbserver
from nbserver import __version__
from nbserver.allocator import keep_freed_memory, limit_arenas
from nbserver.auth.authorizer import Authorizer
from nbserver.auth.commands import subcommands as auth_subcommands
from nbserver.db.commands import subcommands as db_subcommands
from nbserver.db.config import Database
from nbserver.auth.identity import IdentityProvider
from nbserver.auth.logscrub import SHOW_SECRET, install_secret_scrubbing
from nbserver.auth.serverinfo import remove_server_info, write_browser_open_file, write_server_info
from nbserver.base.activity import ActivityTracker
from nbserver.base.handlers import NotFoundAPIHandler, StaticAssetHandler, undeclared_access
from nbserver.base.routing import SegmentIndexedApplication
from nbserver.base.urls import normalize_base_url, url_path_join
from nbserver.services.clusters.manager import ClusterManager
from nbserver.services.config.manager import ConfigSectionManager
from nbserver.services.contents.checkpoints import FileCheckpoints
from nbserver.services.contents.filemanager import FileContentsManager
from nbserver.services.contents.manager import ContentsManager
from nbserver.services.external.manager import ExternalNotebooks
from nbserver.services.files.manager import FileServices
from nbserver.heaptrim import HeapTrimmer
from nbserver.services.kernels.base import KernelManagerBase
from nbserver.services.kernels.gateway.client import GatewayClient
from nbserver.services.kernels.gateway.manager import GatewayKernelManager
from nbserver.services.kernels.manager import MappingKernelManager
from nbserver.services.search.manager import SearchService
from nbserver.services.sessions.manager import SessionManager
from nbserver.services.terminals.manager import TerminalManager

if TYPE_CHECKING:
    from nbserver.services.contents.postgres.manager import PostgresContentsManager

PACKAGE_DIR = os.path.dirname(os.path.abspath(nbserver.__file__))

aliases: dict[str, Any] = dict(base_aliases)
aliases.update({
    "ip": "NotebookServerApp.ip",
    "port": "NotebookServerApp.port",
    "port-retries": "NotebookServerApp.port_retries",
    "root-dir": "NotebookServerApp.root_dir",
    "notebook-dir": "NotebookServerApp.root_dir",
    "base-url": "NotebookServerApp.base_url",
    "token": "IdentityProvider.token",
    "config": "NotebookServerApp.config_file",
    "max-body-size": "NotebookServerApp.max_body_size",
    "gateway-url": "GatewayClient.url",
})

flags: dict[str, Any] = dict(base_flags)
flags.update({
    "no-browser": ({"NotebookServerApp": {"open_browser": False}}, "Do not open a web browser on start."),
    "browser": ({"NotebookServerApp": {"open_browser": True}}, "Open a web browser on start."),
    "allow-hidden": (
        {"ContentsManager": {"allow_hidden": True}},
        "List and serve hidden files and folders (names starting with a dot).",
    ),
    "debug": ({"Application": {"log_level": logging.DEBUG}}, "Log at debug level."),
    "allow-remote-access": (
        {"NotebookServerApp": {"allow_remote_access": True}},
        "Answer requests for any Host name, not only localhost and loopback addresses.",
    ),
    "allow-unauthenticated": (
        {"IdentityProvider": {"allow_unauthenticated": True, "token": ""}},
        "DANGER: run with no token and no password; anyone reaching the server can run code as you.",
    ),
})


def service_handler_modules() -> list[str]:
    """The ``handlers`` module of every service package under nbserver.services."""
    import nbserver.services as services

    names = []
    for info in pkgutil.iter_modules(services.__path__):
        if info.ispkg and importlib.util.find_spec(f"nbserver.services.{info.name}.handlers"):
            names.append(f"nbserver.services.{info.name}.handlers")
    return sorted(names)


class NotebookServerApp(JupyterApp):
    """A notebook server speaking the Jupyter Server REST API."""

    name = "nbserver"
    version = __version__
    description = (
        "nbserver: a Tornado notebook server that speaks the Jupyter Server REST API.\n\n"
        "Serves the contents of --root-dir (default: the current directory) on 127.0.0.1."
    )
    examples = (
        "nbserver                          # serve the current directory\n"
        "nbserver --port 9000 --no-browser  # a fixed port, no browser\n"
        "nbserver --root-dir ~/notebooks --base-url /nb/\n"
    )
    aliases = aliases
    flags = flags
    subcommands = {**auth_subcommands, **db_subcommands}
    classes = [IdentityProvider, Database, ContentsManager, FileContentsManager, FileServices, SearchService,
               ConfigSectionManager, MappingKernelManager, GatewayClient, GatewayKernelManager, SessionManager,
               TerminalManager, ExternalNotebooks, FileCheckpoints, ClusterManager, HeapTrimmer]

    ip = Unicode("127.0.0.1", help="The IP address the server listens on.").tag(config=True)
    port = Integer(
        8888, help="The port to listen on; when taken the next free one is used. 0 picks a free port."
    ).tag(config=True)
    port_retries = Integer(50, help="How many ports after --port to try when it is taken.").tag(config=True)
    root_dir = Unicode(help="The folder to serve (default: the current directory).").tag(config=True)
    base_url = Unicode("/", help="URL prefix of every route, for servers behind a proxy.").tag(config=True)
    open_browser = Bool(True, help="Open the dashboard in a web browser on start.").tag(config=True)
    max_body_size = Integer(
        512 * 1024 * 1024, help="Largest request body accepted, in bytes; larger ones get 413."
    ).tag(config=True)
    max_buffer_size = Integer(
        512 * 1024 * 1024, help="Largest amount of request data buffered in memory, in bytes."
    ).tag(config=True)
    allow_remote_access = Bool(
        help="Answer requests whose Host is not this machine's (localhost, a loopback address or "
        "local_hostnames). Default: only when listening on a non-loopback ip. Guards against DNS rebinding."
    ).tag(config=True)
    local_hostnames = List(
        Unicode(), ["localhost"], help="Host names that count as this machine when allow_remote_access is off."
    ).tag(config=True)
    allow_origin = Unicode(
        "", help="Origin whose web pages may use the REST API (CORS) and websockets; '*' for any. "
        "Default: only pages served by this server."
    ).tag(config=True)
    allow_origin_pat = Unicode(
        "", help="Regular expression that a whole Origin must match to be allowed, like allow_origin."
    ).tag(config=True)
    allow_credentials = Bool(
        False, help="Send Access-Control-Allow-Credentials: true to allowed cross-origin requests."
    ).tag(config=True)
    content_security_policy = Unicode(
        help="Content-Security-Policy header sent with every response (API replies add "
        "\"; default-src 'none'\"). Default: frame-ancestors 'self' and a report-uri to "
        "<base_url>api/security/csp-report, where violations are logged."
    ).tag(config=True)
    nbconfig_dir = Unicode(help="Folder of the /api/config sections (default: <config dir>/nbconfig).").tag(
        config=True
    )
    contents_manager_class = Type(
        FileContentsManager, klass=ContentsManager, help="The contents store class."
    ).tag(config=True)
    authorizer_class = Type(
        Authorizer, klass=Authorizer, help="The class that decides what an authenticated user may do."
    ).tag(config=True)
    identity_provider_class = Type(
        IdentityProvider, klass=IdentityProvider, help="The class that authenticates requests."
    ).tag(config=True)
    kernel_manager_class = Type(
        MappingKernelManager, klass=KernelManagerBase,
        help="The class that starts and tracks kernels (GatewayKernelManager when a gateway url is set).",
    ).tag(config=True)
    terminals_enabled = Bool(
        True, help="Offer terminals (shells in the root folder, /api/terminals); off, their routes answer 404."
    ).tag(config=True)
    shutdown_timeout = Integer(10, help="Seconds to wait for kernels and connections on shutdown.").tag(
        config=True
    )
    malloc_keep_bytes = Integer(
        64 * 1024 * 1024, min=0,
        help="Bytes of freed memory the C allocator (glibc) keeps per arena for reuse rather than giving "
        "it back to the OS at once, serving buffers of up to 32 MiB from it: a notebook read or save "
        "makes several buffers of the file's size, and mapping them anew costs page faults (a third of "
        "the CPU of a 3 MB notebook's first read). 0 keeps glibc's own thresholds; other C libraries "
        "are left alone.",
    ).tag(config=True)
    gc_freeze = Bool(
        True,
        help="Once the server is up, move every object made so far (modules, classes, configuration) "
        "out of the garbage collector's reach (gc.freeze): the collections that requests' allocations "
        "trigger then no longer walk them again and again. They are long-lived anyway; only reference "
        "cycles among them that become garbage later would stay in memory.",
    ).tag(config=True)
    malloc_arena_max = Integer(
        1, min=0,
        help="Most malloc arenas glibc creates. 1: every thread allocates from the main arena, whose "
        "free memory is given back once requests stop (heap_trim_quiet); the other arenas' kept "
        "memory is never given back (185 MB idle after the benchmark's load with glibc's default, "
        "89 MB with 1; nbserver/allocator.py). 0 keeps glibc's default (8 per core).",
    ).tag(config=True)

    @default("content_security_policy")
    def _default_content_security_policy(self) -> str:
        return f"frame-ancestors 'self'; report-uri {url_path_join(self.base_url, 'api/security/csp-report')}"

    @default("log_format")
    def _default_log_format(self) -> str:
        # "[I 2026-11-29 17:00:00.123 nbserver] ...": level initial, time to the millisecond, logger.
        return "[%(levelname)1.1s %(asctime)s.%(msecs)03d %(name)s] %(message)s"

    @default("log_datefmt")
    def _default_log_datefmt(self) -> str:
        return "%Y-%m-%d %H:%M:%S"

    @default("allow_remote_access")
    def _default_allow_remote_access(self) -> bool:
        if self.ip in ("localhost", ""):
            return self.ip == ""
        try:
            return not ipaddress.ip_address(self.ip).is_loopback
        except ValueError:
            return True  # a host name: we cannot tell what it resolves to

    @default("root_dir")
    def _default_root_dir(self) -> str:
        return os.getcwd()

    @validate("root_dir")
    def _validate_root_dir(self, proposal: Any) -> str:
        value = os.path.abspath(os.path.expanduser(str(proposal["value"])))
        if not os.path.isdir(value):
            raise ValueError(f"root_dir {value!r} is not a directory")
        return value

    @validate("base_url")
    def _validate_base_url(self, proposal: Any) -> str:
        return normalize_base_url(proposal["value"])

    @default("nbconfig_dir")
    def _default_nbconfig_dir(self) -> str:
        return os.path.join(self.config_dir, "nbconfig")

    # -- building ----------------------------------------------------------------------

    def initialize(self, argv: Any = None) -> None:
        super().initialize(argv)
        if self._dispatching:
            return
        self.init_logging()
        if keep_freed_memory(self.malloc_keep_bytes):
            self.log.debug("glibc keeps up to %d bytes of freed memory per arena", self.malloc_keep_bytes)
        if limit_arenas(self.malloc_arena_max):
            self.log.debug("glibc creates at most %d malloc arena(s)", self.malloc_arena_max)
        self.init_managers()

    def init_logging(self) -> None:
        """Send the project's and tornado's loggers through the application's handlers."""
        for name in ("nbserver", "tornado.application", "tornado.general"):
            logger = logging.getLogger(name)
            logger.handlers = list(self.log.handlers)
            logger.setLevel(self.log.level)
            logger.propagate = False
        install_secret_scrubbing(self.log.handlers, self.log_secrets)

    def log_secrets(self) -> list[str]:
        """Values the log must never show (the scrubbing filter also knows generic patterns)."""
        provider = getattr(self, "identity_provider", None)
        gateway = getattr(self, "gateway_client", None)
        secrets = [provider.token, provider.hashed_password] if provider is not None else []
        return secrets + ([gateway.auth_token, gateway.http_pwd] if gateway is not None else [])

    def init_managers(self) -> None:
        self.activity_tracker = ActivityTracker()
        self.identity_provider = self.identity_provider_class(parent=self, log=self.log)
        self.identity_provider.check_configuration()
        self.authorizer = self.authorizer_class(parent=self, log=self.log)
        self.database = self.init_database()
        self.contents_manager = self.contents_manager_class(parent=self, log=self.log)
        if hasattr(self.contents_manager, "root_dir"):
            self.contents_manager.root_dir = self.root_dir
        self.contents_manager.recover_interrupted_writes()
        self.config_manager = ConfigSectionManager(parent=self, log=self.log, config_dir=self.nbconfig_dir)
        self.kernel_manager = self.make_kernel_manager()
        self.session_manager = SessionManager(self.database, self.store_owner(), parent=self, log=self.log,
                                              kernel_manager=self.kernel_manager)
        self.contents_manager.add_rename_listener(self.session_manager.path_renamed)
        self.terminal_manager = (
            TerminalManager(parent=self, log=self.log, root_dir=self.root_dir) if self.terminals_enabled else None
        )
        self.file_services = self.start_file_services()
        self.external_notebooks = ExternalNotebooks(parent=self, log=self.log)
        self.cluster_manager = ClusterManager(parent=self, log=self.log, root_dir=self.root_dir)
        self.search_service = self.start_search_service()
        self.heap_trimmer = HeapTrimmer(parent=self, log=self.log)

    def init_database(self) -> Database:
        """The PostgreSQL settings every store shares. With a URL set, the schema must be current
        (or is upgraded first with Database.upgrade_on_start); raises ConfigurationError otherwise."""
        database = Database(parent=self, log=self.log)
        if database.configured:
            from nbserver.db.migrations import require_current, upgrade
            from nbserver.db.security import check_server_role

            with database.connect(autocommit=True) as conn:
                if database.upgrade_on_start:
                    for step in upgrade(conn):
                        self.log.info("Database schema: applied %s", step)
                require_current(conn)
                check_server_role(conn, database, self.log)
        return database

    def store_owner(self) -> str:
        """The ``owner`` of this server's rows (file ids, trash, search, sessions): with PostgreSQL the
        database role, which row-level security compares with ``current_user``; else the user name."""
        return self.database.role if self.database.configured else self.identity_provider.username

    def make_kernel_manager(self) -> KernelManagerBase[Any]:
        """The local kernel manager, or the gateway one when GatewayClient.url (--gateway-url,
        $JUPYTER_GATEWAY_URL) is set."""
        self.gateway_client = GatewayClient(parent=self, log=self.log)
        if not self.gateway_client.enabled:
            manager = self.kernel_manager_class(parent=self, log=self.log, root_dir=self.root_dir)
            assert isinstance(manager, KernelManagerBase)  # the trait's klass
            return manager
        self.log.info("Kernels run on the gateway at %s", self.gateway_client.url)
        return GatewayKernelManager(parent=self, log=self.log, root_dir=self.root_dir,
                                    gateway_client=self.gateway_client)

    def start_file_services(self) -> FileServices | None:
        """Ids and the trash, over the file contents store or the PostgreSQL one (other stores have neither)."""
        services: FileServices
        if isinstance(self.contents_manager, FileContentsManager):
            services = FileServices(self.contents_manager, self.identity_provider.username, self.database,
                                    store_owner=self.store_owner(), parent=self, log=self.log)
        elif (database_contents := self.postgres_contents()) is not None:
            from nbserver.services.files.pg_services import PostgresFileServices

            services = PostgresFileServices(database_contents, self.identity_provider.username,
                                            parent=self, log=self.log)
        else:
            return None
        services.start()
        return services

    def postgres_contents(self) -> PostgresContentsManager | None:
        """The contents manager when it is a PostgresContentsManager (its module, with psycopg, is
        imported only when one is configured), else None."""
        module = sys.modules.get("nbserver.services.contents.postgres.manager")
        manager = self.contents_manager
        found: PostgresContentsManager | None = manager if module is not None and isinstance(
            manager, module.PostgresContentsManager) else None
        return found

    def start_search_service(self) -> SearchService | None:
        """Full-text search over the file services' root (none without them)."""
        if self.file_services is None:
            return None
        service: SearchService
        if self.postgres_contents() is not None:
            from nbserver.services.files.pg_services import PostgresFileServices
            from nbserver.services.search.pg_service import PostgresSearchService

            assert isinstance(self.file_services, PostgresFileServices)
            service = PostgresSearchService(self.file_services, parent=self, log=self.log)
        else:
            service = SearchService(self.file_services, parent=self, log=self.log)
        service.start()
        return service

    def handler_modules(self) -> list[str]:
        pages = ["nbserver.pages.handlers", "nbserver.pages.files", "nbserver.pages.nbconvert",
                 "nbserver.pages.terminals", "nbserver.pages.actions", "nbserver.pages.render"]
        return service_handler_modules() + ["nbserver.auth.handlers"] + pages

    def route_table(self) -> list[tuple[str, type[web.RequestHandler]]]:
        """Every route of the server, before the base URL prefix."""
        routes: list[tuple[str, type[web.RequestHandler]]] = []
        for module_name in self.handler_modules():
            routes.extend(importlib.import_module(module_name).handlers)
        routes.append((r"/api/.*", NotFoundAPIHandler))
        return routes

    def tornado_settings(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "identity_provider": self.identity_provider,
            "authorizer": self.authorizer,
            "contents_manager": self.contents_manager,
            "file_services": self.file_services,
            "external_notebooks": self.external_notebooks,
            "search_service": self.search_service,
            "config_manager": self.config_manager,
            "kernel_manager": self.kernel_manager,
            "session_manager": self.session_manager,
            "terminal_manager": self.terminal_manager,
            "cluster_manager": self.cluster_manager,
            "activity_tracker": self.activity_tracker,
            "max_body_size": self.max_body_size,
            "content_security_policy": self.content_security_policy,
            "cookie_secret": self.identity_provider.cookie_secret,
            "xsrf_cookies": True,
            "xsrf_cookie_kwargs": {"path": self.base_url, "samesite": "Lax"},
            "login_url": url_path_join(self.base_url, "login"),
            "allow_remote_access": self.allow_remote_access,
            "local_hostnames": tuple(name.lower() for name in self.local_hostnames),
            "allow_origin": self.allow_origin,
            "allow_origin_pat": re.compile(self.allow_origin_pat) if self.allow_origin_pat else None,
            "allow_credentials": self.allow_credentials,
            "static_path": os.path.join(PACKAGE_DIR, "static"),
            "static_url_prefix": url_path_join(self.base_url, "static/"),
            "static_handler_class": StaticAssetHandler,
            "template_path": os.path.join(PACKAGE_DIR, "templates"),
            "log_function": self.log_request,
            "nbserver_app": self,
        }

    def build_web_application(self) -> web.Application:
        """The tornado Application; refused when a route's handler would escape the access checks."""
        prefix = re.escape(self.base_url.rstrip("/"))
        routes = [(prefix + pattern, handler) for pattern, handler in self.route_table()]
        application = SegmentIndexedApplication(routes, route_prefix=prefix, path_prefix=self.base_url.rstrip("/"),
                                                **self.tornado_settings())
        problems = undeclared_access(rule.target for rule in application.wildcard_router.rules)
        if problems:
            raise TypeError("Handlers without an access declaration: " + "; ".join(problems))
        return application

    def log_request(self, handler: web.RequestHandler) -> None:
        """Access log: method, path without the query (it may carry a token), status, time."""
        self.heap_trimmer.saw_request()
        status = handler.get_status()
        level = logging.DEBUG if status < 400 else logging.WARNING
        if status >= 500:
            level = logging.ERROR
        log = self.log
        # traitlets sets the logger itself to DEBUG and filters in its handler: a record made for
        # every request that no handler writes was a tenth of the CPU time of a small request.
        if not (log.isEnabledFor(level) and (getattr(log, "propagate", True)
                                            or any(level >= sink.level for sink in getattr(log, "handlers", ())))):
            return
        request = handler.request
        log.log(level, "%d %s %s (%.1f ms)", status, request.method, request.path, 1000 * request.request_time())

    # -- running -----------------------------------------------------------------------

    def bind_sockets(self) -> list[socket.socket]:
        last_error: OSError | None = None
        ports = [self.port] if self.port == 0 else range(self.port, self.port + self.port_retries + 1)
        for port in ports:
            try:
                return netutil.bind_sockets(port, address=self.ip)
            except OSError as exc:
                if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise
                self.log.info("Port %d is taken, trying the next one", port)
                last_error = exc
        raise RuntimeError(f"No free port between {self.port} and {self.port + self.port_retries}") from (
            last_error
        )

    @property
    def display_url(self) -> str:
        host = self.ip if self.ip not in ("", "0.0.0.0", "::") else socket.gethostname()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.bound_port}{self.base_url}"

    def start_server(self) -> None:
        """Bind and start serving on the running event loop."""
        self.web_app = self.build_web_application()
        self.http_server = httpserver.HTTPServer(
            self.web_app, max_body_size=self.max_body_size, max_buffer_size=self.max_buffer_size
        )
        sockets = self.bind_sockets()
        self.bound_port = sockets[0].getsockname()[1]
        self.http_server.add_sockets(sockets)
        self.info_file = write_server_info(self.runtime_dir, self.server_info())
        atexit.register(remove_server_info, self.info_file)  # also when the loop dies of an error
        token = self.identity_provider.token
        url = f"{self.display_url}tree" + (f"?token={token}" if token else "")
        self.log.info("nbserver %s is serving %s", __version__, self.root_dir)
        self.log.info("Open this URL in a browser: %s", url, extra={SHOW_SECRET: True})
        if self.open_browser:
            self.browser_open_file = write_browser_open_file(self.runtime_dir, url)
            atexit.register(remove_server_info, self.browser_open_file)
            target = "file://" + pathname2url(self.browser_open_file)
            threading.Thread(target=webbrowser.open, args=(target,), daemon=True).start()

    def server_info(self) -> dict[str, Any]:
        """What ``nbserver list`` and ``stop`` read from the info file."""
        return {
            "url": self.display_url,
            "hostname": self.ip,
            "port": self.bound_port,
            "base_url": self.base_url,
            "secure": False,
            "token": self.identity_provider.token,
            "password": bool(self.identity_provider.hashed_password),
            "pid": os.getpid(),
            "root_dir": self.root_dir,
            "version": __version__,
        }

    async def stop_services(self) -> None:
        """Stop every kernel and terminal, close the session store and the notebook signature
        database (also used by in-process tests)."""
        await self.heap_trimmer.stop()
        await self.kernel_manager.shutdown_all()
        await self.cluster_manager.stop_all()
        if self.terminal_manager is not None:
            await self.terminal_manager.shutdown_all()
        await self.session_manager.close()
        await self.contents_manager.close()
        await self.database.close()
        await self.external_notebooks.close()
        if self.search_service is not None:
            await self.search_service.stop_background()
            self.search_service.close()
            self.search_service = None
        replies = self.contents_manager.replies.stats()
        self.log.info("Notebook reply cache: %d hits, %d misses, %d replies of %d bytes held (at most %d)",
                      replies.hits, replies.misses, replies.entries, replies.size,
                      self.contents_manager.replies.max_bytes)
        if self.file_services is not None:
            await self.file_services.stop_background()
            self.file_services.close()
            self.file_services = None

    async def cleanup(self) -> None:
        """Stop accepting requests and stop everything the server started."""
        remove_server_info(getattr(self, "info_file", ""))
        remove_server_info(getattr(self, "browser_open_file", ""))
        self.http_server.stop()
        await self.stop_services()
        try:
            await asyncio.wait_for(self.http_server.close_all_connections(), self.shutdown_timeout)
        except asyncio.TimeoutError:
            self.log.warning("Some connections did not close within %d s", self.shutdown_timeout)

    async def serve_until_stopped(self) -> None:
        self._stop_requested = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.stop)
        self.start_server()
        self.kernel_manager.start_kernel_pool()
        if self.file_services is not None:
            self.file_services.start_background()
        if self.search_service is not None:
            self.search_service.start_background()
        self.heap_trimmer.start()
        if self.gc_freeze:
            gc.collect()
            gc.freeze()
            self.log.debug("%d objects moved out of the garbage collector's generations", gc.get_freeze_count())
        await self._stop_requested.wait()
        self.log.info("Shutting down")
        await self.cleanup()

    def stop(self) -> None:
        """Ask a running server to shut down (safe to call from its event loop)."""
        self._stop_requested.set()

    def start(self) -> None:
        try:
            super().start()  # runs a subcommand or --generate-config, if one was given
        except NoStart:
            return
        if self._dispatching:
            return
        asyncio.run(self.serve_until_stopped())


def main(argv: list[str] | None = None, app_class: type[NotebookServerApp] = NotebookServerApp) -> None:
    app = app_class.instance()
    try:
        app.initialize(argv)
    except Exception as exc:  # configuration errors: one clear line, no traceback
        print(f"{app_class.name}: {exc}", file=sys.stderr)
        sys.exit(2)
    app.start()
