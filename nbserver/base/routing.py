"""Route lookup by a path's first segment, so a request is matched against a few routes, not all.

Tornado tries every route of the table in order until one matches: a ``/files/`` request was
matched against some sixty ``/api/...`` patterns first (a tenth of its CPU time). Here the
routes are indexed once by the literal first segment of their pattern (``api``, ``files``...);
a request is tried, in the table's order, against the routes of its first segment plus those
whose first segment a pattern does not spell out (``/?``, ``/tree(...)``). A route left out of
a bucket cannot match a path of that bucket, so the first match, and so the handler, is the
one tornado's own walk would find; a path no candidate matches goes to tornado's walk (its 404).
"""

from __future__ import annotations

import re
from typing import Any, cast

from tornado import httputil, routing, web

# A pattern whose first segment is a literal name: "/name" then "/" (not made optional or
# repeated), or an optional "/" at the end, or the end. Anything else may match other segments.
_LITERAL_FIRST_SEGMENT = re.compile(r"/([A-Za-z0-9_-]+)(?:/(?![?*+{])|/\?$|$)")


def literal_first_segment(pattern: str) -> str | None:
    """The first path segment every path matched by the regex ``pattern`` has, or None when the
    pattern does not spell it out (``/api/status`` -> ``api``, ``/api/?`` -> ``api``, ``/?`` -> None).

    ``pattern`` may end with the ``$`` tornado adds; one with an alternation (``|``) anywhere
    is never spelled out (a top-level one would match other first segments).
    """
    if "|" in pattern:
        return None
    found = _LITERAL_FIRST_SEGMENT.match(pattern.removesuffix("$"))
    return found.group(1) if found else None


class SegmentIndexedApplication(web.Application):
    """A tornado Application whose route lookup starts from the request path's first segment.

    ``route_prefix`` is the regex every routed pattern starts with (the escaped base URL with
    no trailing slash) and ``path_prefix`` the literal path it matches. Host-specific routes
    (``add_handlers`` with a host other than ``.*``) make it fall back to tornado's lookup.
    """

    def __init__(self, handlers: Any = None, route_prefix: str = "", path_prefix: str = "",
                 **settings: Any) -> None:
        self._route_prefix = route_prefix
        self._path_prefix = path_prefix
        self._indexed_rules: list[routing.Rule] | None = None
        self._buckets: dict[str, list[routing.Rule]] = {}
        self._unspelled: list[routing.Rule] = []
        super().__init__(handlers, **settings)

    def _index(self) -> None:
        rules = list(self.wildcard_router.rules)
        buckets: dict[str, list[routing.Rule]] = {}
        unspelled: list[routing.Rule] = []
        order: list[tuple[str | None, routing.Rule]] = []
        for rule in rules:
            segment = None
            if isinstance(rule.matcher, routing.PathMatches) and rule.matcher.regex.pattern.startswith(
                    self._route_prefix):
                segment = literal_first_segment(rule.matcher.regex.pattern[len(self._route_prefix):])
            order.append((segment, rule))
            if segment is None:
                unspelled.append(rule)
            else:
                buckets.setdefault(segment, [])
        for segment, rule in order:  # each bucket: its own rules and the unspelled ones, in table order
            for name, bucket in buckets.items():
                if segment is None or segment == name:
                    bucket.append(rule)
        self._buckets, self._unspelled, self._indexed_rules = buckets, unspelled, rules

    def candidate_rules(self, path: str) -> list[routing.Rule]:
        """The routes, in table order, that may match ``path`` (a request's raw path)."""
        if self._indexed_rules is None or len(self._indexed_rules) != len(self.wildcard_router.rules):
            self._index()
        if not path.startswith(self._path_prefix + "/"):
            return self._unspelled
        segment = path[len(self._path_prefix) + 1:].split("/", 1)[0]
        return self._buckets.get(segment, self._unspelled)

    def find_handler(self, request: httputil.HTTPServerRequest, **kwargs: Any) -> web._HandlerDelegate:
        if len(self.default_router.rules) != 1:  # host-specific routes: tornado's own lookup
            return super().find_handler(request, **kwargs)
        for rule in self.candidate_rules(request.path):
            params = rule.matcher.match(request)
            if params is None:
                continue
            if rule.target_kwargs:
                params["target_kwargs"] = rule.target_kwargs
            delegate = self.wildcard_router.get_target_delegate(rule.target, request, **params)
            if delegate is not None:
                return cast(web._HandlerDelegate, delegate)
        return super().find_handler(request, **kwargs)
