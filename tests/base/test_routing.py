"""Route lookup by first segment: the same handler as tornado's walk over the whole table."""

from __future__ import annotations

import os
import re

import pytest
from tornado import httputil, web

from nbserver.app import NotebookServerApp
from nbserver.base.routing import SegmentIndexedApplication, literal_first_segment
from tests.support.routes import sample_path

EXTRA_PATHS = ["/", "", "/api", "/api/", "/apix", "/files", "/files/", "/files/a/b.txt", "/tree", "/treex",
               "/static/x.css", "/favicon.ico", "/nope", "/api/nope/deeper", "/%61pi/status", "/FILES/a"]


def get(path: str, host: str = "127.0.0.1") -> httputil.HTTPServerRequest:
    return httputil.HTTPServerRequest(start_line=httputil.RequestStartLine("GET", path, "HTTP/1.1"),
                                      headers=httputil.HTTPHeaders({"Host": host}))


@pytest.mark.parametrize(("pattern", "segment"), [
    ("/api/status", "api"), ("/api/?", "api"), ("/api/?$", "api"), ("/login", "login"), ("/login$", "login"),
    ("/files/(?P<path>.+)", "files"), ("/api/.*", "api"), ("/?", None), ("/tree(?P<path>.*)", None),
    ("/(favicon\\.ico)", None), ("/api/*x", None), ("/api/+", None), ("/a|/b", None), ("/x/y|/z", None),
    ("(?i)/api/x", None), ("/ap.i/x", None),
])
def test_literal_first_segment(pattern: str, segment: str | None):
    assert literal_first_segment(pattern) == segment


@pytest.mark.parametrize("base_url", ["/", "/user/someone/"])
def test_every_path_finds_the_handler_of_tornados_own_walk(base_url: str):
    server = NotebookServerApp()
    server.base_url = base_url
    prefix = re.escape(base_url.rstrip("/"))
    routes = [(prefix + pattern, handler) for pattern, handler in server.route_table()]
    application = SegmentIndexedApplication(
        routes, route_prefix=prefix, path_prefix=base_url.rstrip("/"),
        static_path=os.path.dirname(__file__), static_url_prefix=base_url + "static/")
    paths = [sample_path(pattern) for pattern, _ in routes]
    paths += [base_url.rstrip("/") + path for path in EXTRA_PATHS] + EXTRA_PATHS
    for path in paths:
        request = get(path)
        ours = application.find_handler(request)
        tornados = web.Application.find_handler(application, request)
        assert (ours.handler_class, ours.path_args, ours.path_kwargs) == (
            tornados.handler_class, tornados.path_args, tornados.path_kwargs), path


def test_host_specific_routes_use_tornados_lookup():
    class Here(web.RequestHandler):
        pass

    application = SegmentIndexedApplication([(r"/x", web.RequestHandler)])
    application.add_handlers(r"other\.example", [(r"/x", Here)])
    request = get("/x", host="other.example")
    assert application.find_handler(request).handler_class is Here


def test_routes_added_later_are_indexed():
    class Later(web.RequestHandler):
        pass

    application = SegmentIndexedApplication([(r"/a/x", web.RequestHandler)])
    application.find_handler(get("/a/x"))
    application.wildcard_router.add_rules([(r"/b/(.*)", Later)])
    assert application.find_handler(get("/b/y")).handler_class is Later


def test_an_earlier_route_that_spells_no_segment_still_wins():
    class First(web.RequestHandler):
        pass

    class Second(web.RequestHandler):
        pass

    application = SegmentIndexedApplication([(r"/(.*)", First), (r"/files/(.*)", Second)])
    assert application.find_handler(get("/files/a")).handler_class is First
