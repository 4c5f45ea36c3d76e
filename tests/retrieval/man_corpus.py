"""A labelled retrieval corpus built from the section-1 man pages installed on the machine.

Each page in ``man1_pages.txt`` gives one query, the description of its NAME line (for
``ls``: "list directory contents"), and up to ``max_paragraphs_per_page`` passages, the first
paragraphs of the rest of the page. A passage is relevant to exactly the query of its own page,
so a query has several relevant passages and a good ranking puts them first.

The roff source is read with the standard library only (``gzip`` and ``re``): ``man`` and groff
need not be installed where the tests run, only the pages themselves.

This is a helper module for the retrieval-quality tests, not a test file.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DEFAULT_MAN_DIR",
    "PAGES_FILE",
    "Corpus",
    "ParsedPage",
    "Passage",
    "Query",
    "committed_pages",
    "load_corpus",
    "mean_metrics",
    "ndcg_at_k",
    "parse_roff",
    "read_page_source",
    "recall_at_k",
    "split",
    "strip_comment",
    "unescape",
]

PAGES_FILE = Path(__file__).with_name("man1_pages.txt")
DEFAULT_MAN_DIR = Path("/usr/share/man/man1")

MAX_PASSAGE_CHARS = 1000

# Sections whose paragraphs are not passages: NAME gives the query, SYNOPSIS is a list of flags,
# and the rest is boilerplate shared by whole families of pages (authors, licence, bug address).
SKIPPED_SECTIONS = frozenset(
    {
        "NAME",
        "SYNOPSIS",
        "AUTHOR",
        "AUTHORS",
        "REPORTING BUGS",
        "COPYRIGHT",
        "SEE ALSO",
        "AVAILABILITY",
        "COLOPHON",
        "LICENSE",
    }
)


@dataclass(frozen=True)
class Passage:
    """One paragraph of a page: ``id`` is ``"<page>#<n>"`` (n counts the page's passages from 0)."""

    id: str
    page: str
    text: str


@dataclass(frozen=True)
class Query:
    """The query of a page: ``text`` is the description of its NAME line."""

    page: str
    text: str


@dataclass(frozen=True)
class Corpus:
    """Passages and queries of the pages found; ``missing`` names the pages not installed."""

    passages: list[Passage]
    queries: list[Query]
    missing: list[str]
    _relevant: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_page: dict[str, set[str]] = {}
        for passage in self.passages:
            by_page.setdefault(passage.page, set()).add(passage.id)
        relevant = {page: frozenset(ids) for page, ids in by_page.items()}
        object.__setattr__(self, "_relevant", relevant)

    def relevant_ids(self, page: str) -> frozenset[str]:
        """Return the ids of the passages relevant to the query of ``page`` (its own passages)."""
        return self._relevant.get(page, frozenset())

    def query_text(self, page: str) -> str:
        """Return the query text of ``page``; KeyError if the corpus has no query for it."""
        for query in self.queries:
            if query.page == page:
                return query.text
        raise KeyError(page)


@dataclass(frozen=True)
class ParsedPage:
    """What :func:`parse_roff` finds in a page.

    ``description`` is the text after the dash of the NAME line ("" when there is none), as
    :func:`_description` takes it;
    ``paragraphs`` holds ``(section, text)`` pairs in page order, sections upper-cased, for every
    paragraph outside the NAME section, whitespace collapsed, none empty.
    """

    description: str
    paragraphs: list[tuple[str, str]]


# --------------------------------------------------------------------------- committed list


def committed_pages(path: Path = PAGES_FILE) -> list[str]:
    """Return the page names listed in ``path``, in file order, without comments and blanks."""
    names: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return names


# --------------------------------------------------------------------------- reading pages


def _read_file(path: Path) -> str:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.decode("utf-8", errors="replace")


def _find_page_file(name: str, man_dir: Path) -> Path | None:
    for candidate in (man_dir / f"{name}.1.gz", man_dir / f"{name}.1"):
        if candidate.is_file():
            return candidate
    return None


_SO_RE = re.compile(r"^\.\s*so\s+(\S+)\s*$", re.MULTILINE)


def _so_target(source: str) -> str | None:
    """Return the file a page redirects to with ``.so``, when that is all the page does."""
    lines = [line for line in source.splitlines() if line.strip() and not _is_comment_line(line)]
    if len(lines) != 1:
        return None
    match = _SO_RE.match(lines[0])
    return match.group(1) if match else None


def read_page_source(name: str, man_dir: Path = DEFAULT_MAN_DIR) -> str | None:
    """Return the roff source of page ``name`` (``<name>.1.gz`` or ``<name>.1`` in ``man_dir``).

    A page that is only a ``.so`` redirect is replaced by the page it names, once (a redirect to
    another redirect is returned as it is). Returns None when the page is not installed or
    the redirect target is missing.
    """
    path = _find_page_file(name, man_dir)
    if path is None:
        return None
    source = _read_file(path)
    target = _so_target(source)
    if target is None:
        return source
    # ".so man1/foo.1" is relative to the man root; a bare ".so foo.1" to the page's own folder
    for base in (man_dir.parent, man_dir):
        for candidate in (base / target, base / f"{target}.gz"):
            if candidate.is_file():
                return _read_file(candidate)
    return None


# --------------------------------------------------------------------------- escapes

# named characters, \(xx and \[name]
_SPECIAL_CHARS: dict[str, str] = {
    "em": "\u2014",
    "en": "\u2013",
    "hy": "-",
    "mi": "-",
    "pl": "+",
    "eq": "=",
    "aq": "'",
    "dq": '"',
    "lq": "\u201c",
    "rq": "\u201d",
    "oq": "\u2018",
    "cq": "\u2019",
    "bu": "\u2022",
    "co": "\u00a9",
    "rg": "\u00ae",
    "tm": "\u2122",
    "de": "\u00b0",
    "mu": "\u00d7",
    "di": "\u00f7",
    "+-": "\u00b1",
    "<=": "\u2264",
    ">=": "\u2265",
    "!=": "\u2260",
    "->": "\u2192",
    "<-": "\u2190",
    "ti": "~",
    "ha": "^",
    "rs": "\\",
    "sl": "/",
    "ga": "`",
    "aa": "\u00b4",
    "ba": "|",
    "or": "|",
    "lB": "[",
    "rB": "]",
    "lC": "{",
    "rC": "}",
    "la": "\u27e8",
    "ra": "\u27e9",
    "Fo": "\u00ab",
    "Fc": "\u00bb",
    "fo": "\u2039",
    "fc": "\u203a",
    "sc": "\u00a7",
    "ps": "\u00b6",
    "dg": "\u2020",
    "ul": "_",
    "ru": "_",
    "ss": "\u00df",
    "*p": "\u03c0",
}

# predefined strings, \*x \*(xx \*[name]; a page's own .ds definitions are added per page
_DEFAULT_STRINGS: dict[str, str] = {
    "lq": "\u201c",
    "rq": "\u201d",
    "Aq": "'",
    "Dq": '"',
    "R": "\u00ae",
    "Tm": "\u2122",
    "C+": "C++",
    'L"': '"',
    'R"': '"',
    "C`": "",
    "C'": "",
    "--": "\u2014",
    "PI": "pi",
}

_SIMPLE_ESCAPES: dict[str, str] = {
    "e": "\\",
    "\\": "\\",
    "-": "-",
    "'": "'",
    "`": "`",
    " ": " ",
    "~": " ",
    "0": " ",
    "t": "\t",
    "&": "",
    ")": "",
    "%": "",
    ":": "",
    "c": "",
    "/": "",
    ",": "",
    "^": "",
    "|": "",
    "d": "",
    "u": "",
    "r": "",
    "{": "",
    "}": "",
    "p": "",
    "a": "",
    "E": "",
}

# One alternative per kind of escape, tried left to right so that "\\" is consumed whole.
_ESCAPE_RE = re.compile(
    r"""\\(?:
        (?P<font>[fF](?:\[[^\]]*\]|\(..|.))                  # \fB \f(CW \f[I]
      | (?P<size>s(?:[-+]?\d{1,2}|[-+]?\(\d\d|[-+]?\[[^\]]*\]|'[^']*'))  # \s-1 \s0 \s(12
      | (?P<char>\((?P<c2>..)|\[(?P<cn>[^\]]*)\])          # \(em \[u2014]
      | (?P<string>\*(?:\((?P<s2>..)|\[(?P<sn>[^\]\s]*)[^\]]*\]|(?P<s1>.)))  # \*(Aq \*R
      | (?P<register>[nk](?:[-+]?\((?:..)|[-+]?\[[^\]]*\]|[-+]?.))   # \n(.g \n[.ss]
      | (?P<delimited>[whvlLoxbDXZHSRNCVMmF](?:'[^']*'|\[[^\]]*\]|\((?:..)|.))  # \w'..' \h'-1'
      | (?P<arg>\$(?:\d|\*|@|\[[^\]]*\]))                  # macro arguments
      | (?P<gfx>g(?:\(..|\[[^\]]*\]|.))
      | (?P<other>.)                                       # \- \& \e \| ...
      | $                                                  # a trailing backslash
    )""",
    re.VERBOSE,
)


def _special_char(name: str) -> str:
    if name in _SPECIAL_CHARS:
        return _SPECIAL_CHARS[name]
    match = re.fullmatch(r"u([0-9A-Fa-f]{4,6})(?:_[0-9A-Fa-f_]+)?", name)
    if match:
        try:
            return chr(int(match.group(1), 16))
        except ValueError:
            return ""
    match = re.fullmatch(r"char(\d+)", name)
    if match:
        return chr(int(match.group(1)))
    return ""


def unescape(text: str, strings: Mapping[str, str] | None = None, _depth: int = 0) -> str:
    """Return ``text`` with its roff escapes resolved to plain characters.

    Font and size changes (``\\fB``, ``\\s-1``), zero-width and spacing escapes (``\\&``, ``\\|``,
    ``\\c``), motions and widths (``\\h'..'``, ``\\w'..'``) and registers are removed; ``\\-`` is
    ``-``, ``\\e`` and ``\\\\`` are a backslash, ``\\(em``/``\\[em]`` and other named characters
    and ``\\[uXXXX]`` are the Unicode character, ``\\*(xx`` strings are expanded from
    ``strings`` (a page's ``.ds`` definitions) and a few predefined ones. Comments must already
    be gone (see :func:`strip_comment`).
    """
    table = _DEFAULT_STRINGS if strings is None else {**_DEFAULT_STRINGS, **strings}

    def replace(match: re.Match[str]) -> str:
        if match.group("char") is not None:
            return _special_char(match.group("c2") or match.group("cn") or "")
        if match.group("string") is not None:
            name = match.group("s2") or match.group("sn") or match.group("s1") or ""
            value = table.get(name, "")
            if _depth < 4 and "\\" in value:
                return unescape(value, strings, _depth + 1)
            return value
        other = match.group("other")
        if other is not None:
            return _SIMPLE_ESCAPES.get(other, other)
        return ""

    if "\\" not in text:
        return text
    return _ESCAPE_RE.sub(replace, text)


def _is_comment_line(line: str) -> bool:
    return line.startswith(('.\\"', "'\\\"", ".\\#", "'\\#")) or line.rstrip() in {".", "'"}


def strip_comment(line: str) -> str:
    """Return ``line`` without its ``\\"`` or ``\\#`` comment (an escaped ``\\\\"`` stays)."""
    if '\\"' not in line and "\\#" not in line:
        return line
    i = 0
    while i < len(line):
        if line[i] == "\\":
            if i + 1 < len(line) and line[i + 1] in '"#':
                return line[:i]
            i += 2
        else:
            i += 1
    return line


# --------------------------------------------------------------------------- parsing

_ARG_RE = re.compile(r'"((?:[^"]|"")*)"?|((?:\\.|[^\s\\])+)')

# macros whose arguments are printed: alternating fonts join them, the others separate them
_ALTERNATING = frozenset({"BR", "RB", "IR", "RI", "BI", "IB"})
_FONT_MACROS = frozenset({"B", "I", "SM", "SB", "CW", "SY", "OP", "MR"})
# ".sp" too: pages written by Asciidoctor (util-linux) separate their paragraphs with it
_BREAKS = frozenset({"PP", "P", "LP", "HP", "TP", "TQ", "IP", "SH", "SS", "Sh", "Ss", "sp"})
# blocks skipped whole: macro definitions and ignored text end with "..", tables and equations
_DEFINITIONS = frozenset({"de", "de1", "am", "am1", "ig", "ds1"})
_BLOCKS = {"TS": "TE", "EQ": "EN", "PS": "PE"}
_CONDITIONAL_RE = re.compile(r"[.']\s*(if|ie|el|while)(?=[\s\\]|$)(.*)")
# the conditions we can decide as nroff (groff) would when formatting for a terminal
_CONDITION_RE = re.compile(r"(!?)(n|t|v|e|o|\\n\(\.g|\\n\[\.g\])(?=[\s\\]|$)\s*(.*)")
_TRUE_CONDITIONS = frozenset({"n", "\\n(.g", "\\n[.g]"})


def _resolve_conditional(line: str, last_ie: bool) -> tuple[str | None, int, bool]:
    """Reduce a conditional request to the line it runs, as ``(line, brace_depth, last_ie)``.

    ``.if n .IP "x"`` runs ``.IP "x"`` and ``.ie t ...``/``.el ...`` runs the ``.el`` line: a
    condition is true for ``n`` and groff's ``\\n(.g``, false for ``t``, ``v``, ``e``, ``o``
    and anything it cannot decide. The line is None when nothing runs or when the body is a
    ``\\{ ... \\}`` block, which is skipped whole: ``brace_depth`` is then how many blocks
    the line leaves open. ``last_ie`` carries the result of the latest ``.ie`` to its ``.el``.
    A line that is not a conditional comes back unchanged.
    """
    while True:
        match = _CONDITIONAL_RE.match(line)
        if match is None:
            return line, 0, last_ie
        request, rest = match.group(1), match.group(2).lstrip()
        depth = rest.count("\\{") - rest.count("\\}")
        if request == "el":
            value, body = not last_ie, rest
        else:
            condition = _CONDITION_RE.match(rest)
            if condition is None:
                value, body = False, ""
            else:
                negate, name, body = condition.groups()
                value = (name in _TRUE_CONDITIONS) != (negate == "!")
            if request == "ie":
                last_ie = value
            if request == "while":
                value = False
        if depth > 0:
            return None, depth, last_ie
        if not value or not body.strip():
            return None, 0, last_ie
        line = body


def _macro_args(rest: str) -> list[str]:
    args: list[str] = []
    for match in _ARG_RE.finditer(rest):
        quoted, bare = match.group(1), match.group(2)
        args.append(quoted.replace('""', '"') if quoted is not None else bare)
    return args


def _join_continuations(lines: Iterable[str]) -> list[str]:
    """Join a line ending in an (unescaped) backslash or ``\\c`` with the next one."""
    out: list[str] = []
    pending = ""
    for raw in lines:
        line = pending + raw
        if (len(line) - len(line.rstrip("\\"))) % 2 == 1:  # an odd run: the last one escapes
            pending = line[:-1]
            continue
        if line.endswith("\\c") and (len(line) - 1 - len(line[:-1].rstrip("\\"))) % 2 == 1:
            pending = line[:-2]
            continue
        pending = ""
        out.append(line)
    if pending:
        out.append(pending)
    return out


def _section_name(args: list[str], strings: Mapping[str, str]) -> str:
    return " ".join(unescape(" ".join(args), strings).split()).upper()


_NAME_DASH_RE = re.compile(r"\s[-\u2013\u2014]{1,2}\s")


def _description(name_lines: Sequence[str]) -> str:
    """Return what follows the dash of the first NAME line that has one, without a final period.

    ``["ls - list directory contents"]`` gives "list directory contents". Only that line counts:
    a page naming several commands ("bzcat - ...", each after a ``.br``) or going on with a
    synopsis after an ``.sp`` gives the description of its first name.
    """
    for line in name_lines:
        padded = f" {line} "
        match = _NAME_DASH_RE.search(padded)
        if match is not None:
            return " ".join(padded[match.end() :].split()).removesuffix(".").strip()
    return ""


def parse_roff(source: str) -> ParsedPage:
    """Parse the roff (man(7) macros) of one page; return its NAME description and paragraphs.

    Paragraphs end at ``.PP .P .LP .HP .TP .TQ .IP .SH .SS .sp`` and blank lines; the text lines
    of a paragraph are joined and its whitespace collapsed. Printing macros (``.B .I .BR .IR``
    ...) contribute their arguments, an ``.IP`` its tag when the tag has a letter or digit, and
    all other requests (``.TH .RS .RE .nf .fi .br`` ...) nothing. A one-line conditional
    (``.ie n .IP "-x"``, ``.el ...``) runs its body when the condition holds for nroff (see
    :func:`_resolve_conditional`); comments, macro definitions (``.de`` .. ``..``), conditional
    ``\\{ ... \\}`` blocks and tables (``.TS`` .. ``.TE``) are skipped. ``.so`` is not
    followed here; see :func:`read_page_source`.
    """
    strings: dict[str, str] = {}
    paragraphs: list[tuple[str, str]] = []
    name_parts: list[str] = []
    section = ""
    current: list[str] = []
    heading_next = False  # ".SH" alone: the heading is the next line
    skip_until: str | None = None  # end of a skipped block (".." or ".TE" ...)
    brace_depth = 0  # inside a conditional's \{ ... \} block

    def flush() -> None:
        text = " ".join(" ".join(current).split())
        current.clear()
        if not text:
            return
        if section == "NAME":
            name_parts.append(text)
        else:
            paragraphs.append((section, text))

    last_ie = False  # the condition of the latest .ie, for its .el

    for raw in _join_continuations(source.splitlines()):
        if brace_depth:
            brace_depth += raw.count("\\{") - raw.count("\\}")
            brace_depth = max(brace_depth, 0)
            continue
        if skip_until is not None:
            stripped = raw.strip()
            if stripped.startswith((".", "'")):
                name = stripped[1:].strip().split(" ", 1)[0]
                if name == skip_until or (skip_until == "." and stripped == ".."):
                    skip_until = None
            continue
        if _is_comment_line(raw):
            continue
        resolved, brace_depth, last_ie = _resolve_conditional(strip_comment(raw), last_ie)
        if resolved is None:
            continue
        line = resolved
        if line.startswith((".", "'")):
            match = re.match(r"[.']\s*([^\s\\]*)(.*)", line)
            assert match is not None  # the pattern matches any control line
            macro, rest = match.group(1), match.group(2)
            if macro in _DEFINITIONS:
                skip_until = "."
                continue
            if macro in _BLOCKS:
                skip_until = _BLOCKS[macro]
                continue
            if macro == "ds":
                parts = rest.strip().split(None, 1)
                if parts:
                    value = parts[1] if len(parts) > 1 else ""
                    strings[parts[0]] = value[1:] if value.startswith('"') else value
                continue
            args = _macro_args(rest)
            if macro == "br" and section == "NAME":
                flush()  # one line per name in "bzip2 - ...", ".br", "bzcat - ..."
                continue
            if macro in _BREAKS:
                flush()
                heading_next = False
                if macro in {"SH", "SS", "Sh", "Ss"}:
                    if macro in {"SH", "Sh"}:
                        if args:
                            section = _section_name(args, strings)
                        else:
                            heading_next = True
                    # an .SS heading is not a passage; the section stays the .SH one
                elif macro == "IP" and args:
                    tag = unescape(args[0], strings)
                    if any(ch.isalnum() for ch in tag):
                        current.append(tag)
                continue
            if heading_next:
                heading_next = False
                section = _section_name(args, strings)
                continue
            if macro in _ALTERNATING:
                current.append(unescape("".join(args), strings))
            elif macro in _FONT_MACROS:
                current.append(unescape(" ".join(args), strings))
            elif macro in {"UE", "ME"} and args:
                current.append(unescape("".join(args), strings))
            continue  # every other request prints nothing
        if not line.strip():
            flush()
            continue
        if heading_next:
            heading_next = False
            section = _section_name([line], strings)
            continue
        current.append(unescape(line, strings))
    flush()
    return ParsedPage(description=_description(name_parts), paragraphs=paragraphs)


# --------------------------------------------------------------------------- the corpus


def _cut(text: str, limit: int = MAX_PASSAGE_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return cut[:space] if space > limit // 2 else cut


def load_corpus(
    pages: Sequence[str] | None = None,
    man_dir: Path = DEFAULT_MAN_DIR,
    max_paragraphs_per_page: int = 12,
    min_chars: int = 60,
) -> Corpus:
    """Build the corpus of ``pages`` (default: :func:`committed_pages`) from ``man_dir``.

    Returns a :class:`Corpus`: one :class:`Query` per page found that has a NAME description,
    in the order of ``pages``; its passages, the first ``max_paragraphs_per_page`` paragraphs of
    at least ``min_chars`` characters outside NAME, SYNOPSIS and the boilerplate sections
    (authors, copyright, bug reports, see also), each cut to at most 1000 characters at a word
    boundary, ids ``"<page>#<n>"``; and ``missing``, the pages not installed or with no
    description. A paragraph whose text occurs on more than one of the pages (a shared licence
    or help line) is left out everywhere, since it cannot be told apart. A page is listed once
    even if named twice.
    """
    names = list(dict.fromkeys(committed_pages() if pages is None else pages))
    parsed: dict[str, ParsedPage] = {}
    missing: list[str] = []
    for name in names:
        source = read_page_source(name, man_dir)
        page = parse_roff(source) if source is not None else None
        if page is None or not page.description:
            missing.append(name)
        else:
            parsed[name] = page

    candidates: dict[str, list[str]] = {}
    for name, page in parsed.items():
        texts = [
            _cut(text)
            for section, text in page.paragraphs
            if section not in SKIPPED_SECTIONS and len(text) >= min_chars
        ]
        candidates[name] = list(dict.fromkeys(texts))
    shared = Counter(text for texts in candidates.values() for text in texts)

    passages: list[Passage] = []
    queries: list[Query] = []
    for name, page in parsed.items():
        queries.append(Query(page=name, text=page.description))
        kept = [text for text in candidates[name] if shared[text] == 1]
        passages.extend(
            Passage(id=f"{name}#{n}", page=name, text=text)
            for n, text in enumerate(kept[:max_paragraphs_per_page])
        )
    return Corpus(passages=passages, queries=queries, missing=missing)


def split(corpus: Corpus) -> tuple[list[str], list[str]]:
    """Split the corpus's query pages into ``(dev_pages, heldout_pages)``.

    A page goes to dev when the first byte of the SHA-256 of its name is even, so the split
    depends only on the name: it is the same on every machine and for every subset of pages,
    and about half the pages fall on each side. Both lists keep the corpus's query order.
    """
    dev: list[str] = []
    heldout: list[str] = []
    for query in corpus.queries:
        digest = hashlib.sha256(query.page.encode("utf-8")).digest()
        (dev if digest[0] % 2 == 0 else heldout).append(query.page)
    return dev, heldout


# --------------------------------------------------------------------------- metrics


def recall_at_k(ranked_ids: Sequence[str], relevant_ids: Iterable[str], k: int = 10) -> float:
    """Return recall at ``k``: |relevant ∩ top k| / min(|relevant|, k).

    The denominator is capped at ``k`` so that a perfect ranking scores 1.0 even when there are
    more relevant items than ``k``. Duplicated ids in the ranking count once. Returns 0.0 when
    there are no relevant ids.
    """
    relevant = set(relevant_ids)
    if not relevant or k <= 0:
        return 0.0
    found = relevant.intersection(ranked_ids[:k])
    return len(found) / min(len(relevant), k)


def ndcg_at_k(ranked_ids: Sequence[str], relevant_ids: Iterable[str], k: int = 10) -> float:
    """Return nDCG at ``k`` with binary gains: DCG of the top ``k`` over the ideal DCG.

    DCG = sum over ranks r = 1..k of rel_r / log2(r + 1), rel_r being 1 for a relevant id (the
    first time it appears) and 0 otherwise; the ideal DCG puts min(|relevant|, k) relevant items
    first. Returns a value in [0, 1], 0.0 when there are no relevant ids.
    """
    relevant = set(relevant_ids)
    if not relevant or k <= 0:
        return 0.0
    seen: set[str] = set()
    dcg = 0.0
    for rank, item in enumerate(ranked_ids[:k], start=1):
        if item in relevant and item not in seen:
            seen.add(item)
            dcg += 1.0 / math.log2(rank + 1)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def mean_metrics(
    runs: Mapping[str, Sequence[str]], corpus: Corpus, pages: Iterable[str], k: int = 10
) -> dict[str, float]:
    """Return ``{"recall": ..., "ndcg": ...}``, the means over ``pages`` of the metrics at ``k``.

    ``runs`` maps a query page to the passage ids its search returned, best first; a page with
    no run scores 0. Relevant ids come from :meth:`Corpus.relevant_ids`. Both means are 0.0 when
    ``pages`` is empty.
    """
    recalls: list[float] = []
    ndcgs: list[float] = []
    for page in pages:
        ranked = runs.get(page, ())
        relevant = corpus.relevant_ids(page)
        recalls.append(recall_at_k(ranked, relevant, k))
        ndcgs.append(ndcg_at_k(ranked, relevant, k))
    if not recalls:
        return {"recall": 0.0, "ndcg": 0.0}
    return {"recall": sum(recalls) / len(recalls), "ndcg": sum(ndcgs) / len(ndcgs)}
