"""Error answers as Glance's WSGI stack writes them: webob 1.8 bodies, Accept negotiation.

Glance raises ``webob.exc.HTTP*`` exceptions and lets webob write the body. What a client
sees therefore depends on its ``Accept`` header, with webob's own reading of it: the offers
are ``text/html`` then ``application/json``; the best acceptable one wins (ties keep that
order), an unparsable header accepts both (so HTML), and a header that accepts neither,
an empty one included, gets ``text/plain``. A missing header reads as empty (plain text);
``*/*`` gets HTML; ``application/json`` or ``application/*`` gets JSON.

The body is webob's template: ``explanation<br /><br />\\ndetail\\n\\n`` for most codes
(the explanation defaults to the status's stock sentence), with its own templates for
405 and 415, stripped of tags for plain text and HTML-escaped for HTML.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from http import HTTPStatus

#: webob's stock explanations, where a code has one.
EXPLANATIONS: dict[int, str] = {
    400: "The server could not comply with the request since it is either malformed or "
         "otherwise incorrect.",
    401: "This server could not verify that you are authorized to access the document you "
         "requested. Either you supplied the wrong credentials (e.g., bad password), or "
         "your browser does not understand how to supply the credentials required.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    405: "The server could not comply with the request since it is either malformed or "
         "otherwise incorrect.",
    409: "There was a conflict when trying to complete your request.",
    410: "This resource is no longer available. No forwarding address is given.",
    413: "The body of your request was too large for this server.",
    415: "The server could not comply with the request since it is either malformed or "
         "otherwise incorrect.",
    416: "The Range requested is not available.",
    431: "The request header fields were too large",
    500: "The server has either erred or is incapable of performing the requested "
         "operation.",
    503: "The server is currently unavailable. Please try again at a later time.",
}
#: webob's titles where they differ from the standard library's phrases.
_TITLES = {416: "Request Range Not Satisfiable", 413: "Request Entity Too Large"}
_DEFAULT_TEMPLATE = "${explanation}<br /><br />\n${detail}\n${html_comment}\n"
_TEMPLATES = {
    405: "The method ${REQUEST_METHOD} is not allowed for this resource. <br /><br />\n"
         "${detail}",
    415: "The request media type ${CONTENT_TYPE} is not supported by this server.\n"
         "<br /><br />\n${detail}",
}
_HTML_PAGE = ("<html>\n <head>\n  <title>{status}</title>\n </head>\n <body>\n"
              "  <h1>{status}</h1>\n  {body}\n </body>\n</html>")
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def title(status: int) -> str:
    """The reason phrase webob puts after the code."""
    return _TITLES.get(status) or HTTPStatus(status).phrase


class HttpError(Exception):
    """One error answer: ``webob.exc.HTTP<status>(explanation=..., detail=...)``.

    ``explanation=None`` keeps webob's stock sentence for the code (what Glance gets when
    it passes its message positionally, as ``detail``). ``template`` replaces the body
    template, as Glance does for a few answers (``"${explanation}"``).
    """

    def __init__(self, status: int, explanation: str | None = None, *,
                 detail: str | None = None, headers: Iterable[tuple[str, str]] = (),
                 template: str | None = None) -> None:
        super().__init__(explanation or detail or title(status))
        self.status = status
        self.explanation = EXPLANATIONS.get(status, "") if explanation is None else explanation
        self.detail = detail
        self.headers = tuple(headers)
        self.template = template

    def body_text(self, escape: bool, environ: dict[str, str]) -> str:
        """The template filled in (``escape`` HTML-escapes the values, as webob does)."""
        def esc(text: str) -> str:
            if not escape:
                return text
            return html.escape(text, quote=True).encode("ascii", "xmlcharrefreplace").decode()

        values = {"explanation": esc(self.explanation), "detail": esc(self.detail or ""),
                  "html_comment": "", **{k: esc(v) for k, v in environ.items()}}
        template = self.template or _TEMPLATES.get(self.status, _DEFAULT_TEMPLATE)
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


# ------------------------------------------------------------------- negotiation

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_OWS = r"[ \t]*"
_PARAM = f"{_TOKEN}=(?:{_TOKEN}|{_QUOTED})"
_QVALUE = r"(?:0(?:\.[0-9]{0,3})?)|(?:1(?:\.0{0,3})?)"
_RANGE = (f"({_TOKEN}/{_TOKEN})((?:{_OWS};{_OWS}(?![qQ]=){_PARAM})*)"
          f"(?:{_OWS};{_OWS}[qQ]=({_QVALUE})((?:{_OWS};{_OWS}{_TOKEN}"
          f"(?:=(?:{_TOKEN}|{_QUOTED}))?)*))?")
_RANGE_RE = re.compile(_RANGE)
_HEADER_RE = re.compile(f"^(?:$)|(?:(?:,|(?:{_RANGE}))(?:{_OWS},(?:{_OWS}{_RANGE})?)*)$")
_OFFERS = ("text/html", "application/json")


def negotiate(accept: str | None) -> str:
    """``html``, ``json`` or ``plain``: webob's pick among its two offers for ``accept``."""
    value = accept if accept is not None else ""
    if _HEADER_RE.match(value) is None:
        return "html"  # an invalid header accepts every offer
    best: dict[str, tuple[float, int]] = {}  # offer -> (qvalue, specificity)
    for match in _RANGE_RE.finditer(value):
        media, params, qvalue = match.group(1).lower(), match.group(2), match.group(3)
        q = float(qvalue) if qvalue else 1.0
        kind, _, sub = media.partition("/")
        for offer in _OFFERS:
            o_kind, _, o_sub = offer.partition("/")
            if (o_kind, o_sub) == (kind, sub):
                if params:
                    continue  # a range with parameters never matches a bare offer
                specificity = 3
            elif sub == "*" and o_kind == kind:
                specificity = 2
            elif media == "*/*":
                specificity = 1
            else:
                continue
            if offer not in best or specificity > best[offer][1]:
                best[offer] = (q, specificity)
    ranked = sorted((o for o in _OFFERS if o in best and best[o][0] > 0),
                    key=lambda o: -best[o][0])
    if not ranked:
        return "plain"
    return "html" if ranked[0] == "text/html" else "json"


def strip_tags(value: str) -> str:
    """webob's plain-text rendering of a body template."""
    value = value.replace("\n", " ").replace("\r", "")
    value = re.sub(r"<br.*?>", "\n", value, flags=re.I | re.S)
    value = re.sub(r"<!--|-->", "", value)
    return re.sub(r"<.*?>", "", value, flags=re.S)


def render(error: HttpError, *, accept: str | None, method: str,
           content_type: str | None) -> tuple[str, bytes]:
    """The ``(Content-Type, body)`` webob writes for ``error`` to this request."""
    status = f"{error.status} {title(error.status)}"
    environ = {"REQUEST_METHOD": method}
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    kind = negotiate(accept)
    if kind == "html":
        page = _HTML_PAGE.format(status=status, body=error.body_text(True, environ))
        return "text/html; charset=UTF-8", page.encode("utf-8")
    if kind == "json":
        doc = {"message": error.body_text(False, environ), "code": status,
               "title": title(error.status)}
        return "application/json", json.dumps(doc).encode("utf-8")
    text = f"{status}\n\n{strip_tags(error.body_text(False, environ))}"
    return "text/plain; charset=UTF-8", text.encode("utf-8")
