"""Markdown to safe HTML: markdown-it (raw HTML off) and then nh3, whatever the input.

Mentions are turned into highlighted spans by a small markdown-it rule working on text tokens, so a
name never becomes markup. nh3 has the last word: only an allow-list of tags and attributes
survives, links get rel="nofollow noopener noreferrer", and images may only come from this site's
discussion image route (no tracking pixels, no other origins).
"""
from __future__ import annotations

import html as _html
import re

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup, escape

IMAGE_PREFIX = "/discussion/images/"

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h3", "h4", "h5", "h6", "a", "img", "table", "thead", "tbody", "tr", "th", "td", "span",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "span": {"class"},
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
}
_SAFE_CLASSES = {"mention"}
_ALIGN = re.compile(r"^text-align:\s*(left|right|center)$")


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if tag == "img" and attr == "src":
        return value if value.startswith(IMAGE_PREFIX) and "//" not in value else None
    if tag == "span" and attr == "class":
        return value if value in _SAFE_CLASSES else None
    if attr == "style":
        # Tables written in Markdown align their cells with inline styles; the CSP blocks those
        # anyway, so keep nothing but the alignment (dropped otherwise).
        return None
    if tag == "ol" and attr == "start":
        return value if value.isdigit() and len(value) < 7 else None
    return value


def _mention_rule_factory(names: list[str]):
    if not names:
        return None
    pattern = re.compile("@(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + ")")

    def rule(state):
        for block in state.tokens:
            if block.type != "inline" or not block.children:
                continue
            out: list[Token] = []
            in_link = 0
            for tok in block.children:
                if tok.type == "link_open":
                    in_link += 1
                elif tok.type == "link_close":
                    in_link -= 1
                if tok.type != "text" or in_link or "@" not in tok.content:
                    out.append(tok)
                    continue
                pos = 0
                for m in pattern.finditer(tok.content):
                    if m.start() > pos:
                        t = Token("text", "", 0)
                        t.content = tok.content[pos:m.start()]
                        out.append(t)
                    h = Token("html_inline", "", 0)
                    h.content = f'<span class="mention">@{escape(m.group(1))}</span>'
                    out.append(h)
                    pos = m.end()
                if pos < len(tok.content):
                    t = Token("text", "", 0)
                    t.content = tok.content[pos:]
                    out.append(t)
            block.children = out

    return rule


def _parser(mention_names: list[str]) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    # Headings inside a post should not outrank the page's own headings.
    md.disable("lheading")
    rule = _mention_rule_factory(mention_names)
    if rule is not None:
        md.core.ruler.push("lms_mentions", rule)
    return md


def _demote_headings(html: str) -> str:
    return re.sub(r"<(/?)h([12])>", lambda m: f"<{m.group(1)}h{int(m.group(2)) + 2}>", html)


def sanitise(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )


def render_markdown(source: str, mention_names: list[str] | None = None) -> str:
    """Markdown source → sanitised HTML string (safe to mark as Markup)."""
    html = _parser(list(mention_names or [])).render(source or "")
    return sanitise(_demote_headings(html))


def as_markup(html: str) -> Markup:
    """Mark stored HTML safe; it is sanitised again on the way out in case stored rows were altered."""
    return Markup(sanitise(html or ""))  # noqa: S704  (nh3 allow-list output)


def excerpt(source: str, limit: int = 120) -> str:
    """Plain text of a post for quotes, lists and notifications (no markup at all)."""
    text = nh3.clean(MarkdownIt("commonmark", {"html": False}).render(source or ""), tags=set())
    text = re.sub(r"\s+", " ", _html.unescape(text)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
