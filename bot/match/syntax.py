"""The rule language: query string → immutable AST, and AST → query string.

Grammar (precedence NOT > AND > OR; juxtaposition is AND)::

    query    := or END
    or       := and ("OR" and)*
    and      := unary (["AND"] unary)*
    unary    := "NOT" unary | "-" primary | primary
    primary  := "(" or ")" | FIELD ":" primary | "lang:" CODE | "@" NAME
              | '"' words '"' ["~" N] | WORD["*"]

- Operators are upper case (``AND OR NOT``); ``or`` in lower case is the French word.
- A word may contain hyphens and apostrophes: ``sino-malien`` is the phrase
  ``"sino malien"``, ``l'ambassadeur`` the word ``ambassadeur`` (see ``text.words``).
- ``word*`` is a prefix (at least ``MIN_PREFIX`` characters once normalised); inside a
  phrase any word may end with ``*``.
- ``"a b"~N``: every word within a span of N word positions, in any order.
- Fields ``title:`` and ``summary:`` apply to the primary that follows them;
  ``lang:fr|en|other`` tests the item's language.
- ``@name`` is an alias set from the lexicon; an unknown name is a syntax error. Inside a
  phrase, ``@name`` is a slot filled by any word of that set (sets of single words only):
  ``"@build @structure"~5``.

``parse`` raises ``RuleSyntaxError(message, column, query)`` with a 1-based column at the
offending character. ``render(parse(q))`` is a canonical query that parses back to the
same AST (tested by property).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from bot.errors import RuleSyntaxError
from bot.match.text import words

FIELDS = ("title", "summary")
LANGUAGES = ("fr", "en", "other")
MIN_PREFIX = 2
MAX_SLOP = 200
_SPECIAL = '()"'
_OPERATORS = ("AND", "OR", "NOT")


@dataclass(frozen=True, slots=True)
class Term:
    """One normalised word; ``prefix``: any word starting with ``text``."""

    text: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Phrase:
    """Two or more words: consecutive (``slop`` None) or all within a span of ``slop``.

    A word may be an alias set of single words (``"@build @structure"~5``): any of its
    words fills that slot.
    """

    terms: tuple[Term | Alias, ...]
    slop: int | None = None


@dataclass(frozen=True, slots=True)
class Alias:
    """``@name``: any term of the lexicon's alias set ``name``."""

    name: str


@dataclass(frozen=True, slots=True)
class Lang:
    """``lang:code``: the item's language is ``code``."""

    code: str


@dataclass(frozen=True, slots=True)
class Field:
    """``title:x`` / ``summary:x``: ``child`` evaluated on that field only."""

    name: str
    child: Node


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


Leaf = Term | Phrase
Node = Term | Phrase | Alias | Lang | Field | Not | And | Or


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # WORD PHRASE LPAREN RPAREN AND OR NOT MINUS ALIAS FIELD LANG END
    text: str
    column: int
    slop: int | None = None


class _Lexer:
    def __init__(self, query: str) -> None:
        self.query = query
        self.pos = 0
        self.tokens: list[_Tok] = []

    def error(self, message: str, index: int) -> RuleSyntaxError:
        return RuleSyntaxError(message, index + 1, self.query)

    def run(self) -> list[_Tok]:
        q = self.query
        while True:
            while self.pos < len(q) and q[self.pos].isspace():
                self.pos += 1
            if self.pos >= len(q):
                self.tokens.append(_Tok("END", "", len(q) + 1))
                return self.tokens
            self.one()

    def one(self) -> None:
        q, i = self.query, self.pos
        char = q[i]
        if char == "(":
            self.tokens.append(_Tok("LPAREN", "(", i + 1))
            self.pos += 1
        elif char == ")":
            self.tokens.append(_Tok("RPAREN", ")", i + 1))
            self.pos += 1
        elif char == '"':
            self.phrase()
        elif char == "-":
            if i + 1 >= len(q) or q[i + 1].isspace() or q[i + 1] in ")-":
                raise self.error("dangling operator '-'", i)
            self.tokens.append(_Tok("MINUS", "-", i + 1))
            self.pos += 1
        elif char == "@":
            self.alias()
        elif char in "~*:":
            raise self.error(f"unexpected '{char}'", i)
        else:
            self.word()

    def phrase(self) -> None:
        q, start = self.query, self.pos
        end = q.find('"', start + 1)
        if end < 0:
            raise self.error("unterminated phrase: expected '\"'", start)
        self.pos = end + 1
        slop = None
        if self.pos < len(q) and q[self.pos] == "~":
            digits = self.pos + 1
            stop = digits
            while stop < len(q) and q[stop].isdigit():
                stop += 1
            if stop == digits:
                raise self.error("expected a number after '~'", digits)
            slop = int(q[digits:stop])
            if not 1 <= slop <= MAX_SLOP:
                raise self.error(f"proximity must be between 1 and {MAX_SLOP}", digits)
            self.pos = stop
        self.check_boundary()
        self.tokens.append(_Tok("PHRASE", q[start + 1 : end], start + 1, slop))

    def alias(self) -> None:
        q, start = self.query, self.pos
        stop = start + 1
        while stop < len(q) and (q[stop].isalnum() or q[stop] == "_"):
            stop += 1
        if stop == start + 1:
            raise self.error("expected an alias name after '@'", start + 1)
        self.pos = stop
        self.check_boundary()
        self.tokens.append(_Tok("ALIAS", q[start + 1 : stop], start + 1))

    def check_boundary(self) -> None:
        """After a phrase or alias: only space, ')' , '(' or the end may follow."""
        q = self.query
        if self.pos < len(q) and not q[self.pos].isspace() and q[self.pos] not in "()":
            raise self.error(f"unexpected '{q[self.pos]}'", self.pos)

    def word(self) -> None:
        q, start = self.query, self.pos
        stop = start
        while stop < len(q) and not q[stop].isspace() and q[stop] not in _SPECIAL:
            stop += 1
        raw = q[start:stop]
        colon = raw.find(":")
        if colon > 0 and raw[:colon].isascii() and raw[:colon].isalpha():
            self.field(raw[:colon], start, start + colon + 1)
            return
        if raw in _OPERATORS:
            self.tokens.append(_Tok(raw, raw, start + 1))
            self.pos = stop
            return
        self.refuse_foreign(raw, start)
        for offset, char in enumerate(raw):
            if char == "*" and offset != len(raw) - 1:
                raise self.error("'*' may only end a word (a prefix: coopér*)", start + offset)
            if char == "~":
                raise self.error(
                    "'~' follows a phrase only (proximity: \"chine sécurité\"~10); "
                    "there is no fuzzy matching of one word",
                    start + offset,
                )
            if char == ":":
                raise self.error(f"unexpected '{char}'", start + offset)
        self.tokens.append(_Tok("WORD", raw, start + 1))
        self.pos = stop

    def refuse_foreign(self, raw: str, start: int) -> None:
        """Forms of Lucene / Elasticsearch ``query_string`` that this language does not
        have are refused with what to write instead (never silently read as words)."""
        if raw in ("&&", "||"):
            word = "AND" if raw == "&&" else "OR"
            raise self.error(f"'{raw}' is not an operator here: write {word}", start)
        if raw.lower() in ("and", "or", "not"):
            raise self.error(
                f"lower-case '{raw}' would be a word (French 'or' is gold): write "
                f"{raw.upper()} for the operator, or \"{raw}\" in quotes for the word",
                start,
            )
        hints = {
            "!": "'!' is not an operator here: write NOT or -",
            "^": "boosts ('^') are not supported: every term counts the same",
            "?": "'?' (one-letter wildcard) is not supported: use a prefix such as chin* "
            "or list the spellings with OR",
            "/": "regular expressions (/…/) are not supported: use words, phrases and "
            "prefixes",
            "[": "ranges ([a TO b]) are not supported",
            "{": "ranges ({a TO b}) are not supported",
            "&": "'&' is not an operator here: write AND",
            "|": "'|' is not an operator here: write OR",
        }
        for offset, char in enumerate(raw):
            if char in hints:
                raise self.error(hints[char], start + offset)

    def field(self, name: str, start: int, after: int) -> None:
        q = self.query
        lowered = name.lower()
        if lowered == "lang":
            stop = after
            while stop < len(q) and q[stop].isalpha():
                stop += 1
            code = q[after:stop].lower()
            if not code:
                raise self.error("expected a language after 'lang:'", after)
            if code not in LANGUAGES:
                raise self.error(f"unknown language '{code}' (fr, en or other)", after)
            self.pos = stop
            self.check_boundary()
            self.tokens.append(_Tok("LANG", code, start + 1))
            return
        if lowered not in FIELDS:
            raise self.error(f"unknown field '{name}' (title or summary)", start)
        if after >= len(q) or q[after].isspace() or q[after] == ")":
            raise self.error(f"expected a term after '{name}:'", after)
        self.tokens.append(_Tok("FIELD", lowered, start + 1))
        self.pos = after


# Groups, fields and NOTs nested deeper than this are refused: real rules nest 3 or 4
# levels, and each level costs the parser and the evaluators a few stack frames (5,000
# nested parentheses raised RecursionError instead of a message with a column).
MAX_DEPTH = 64


class _Parser:
    def __init__(
        self,
        query: str,
        tokens: list[_Tok],
        aliases: Collection[str] | None,
        phrase_aliases: Collection[str] | None,
    ) -> None:
        self.query = query
        self.tokens = tokens
        self.index = 0
        self.aliases = aliases
        self.phrase_aliases = phrase_aliases
        self.depth = 0

    def enter(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested more than {MAX_DEPTH} levels deep", tok.column)

    @property
    def tok(self) -> _Tok:
        return self.tokens[self.index]

    def advance(self) -> _Tok:
        tok = self.tokens[self.index]
        self.index += 1
        return tok

    def error(self, message: str, column: int) -> RuleSyntaxError:
        return RuleSyntaxError(message, column, self.query)

    def starts_operand(self, tok: _Tok) -> bool:
        return tok.kind in ("WORD", "PHRASE", "LPAREN", "NOT", "MINUS", "ALIAS", "FIELD", "LANG")

    def expect_operand_after(self, operator: _Tok) -> None:
        if not self.starts_operand(self.tok):
            raise self.error(f"dangling operator '{operator.text}'", operator.column)

    def parse(self) -> Node:
        if self.tok.kind == "END":
            raise self.error("empty query", 1)
        node = self.parse_or()
        if self.tok.kind == "RPAREN":
            raise self.error("unexpected ')'", self.tok.column)
        if self.tok.kind != "END":  # pragma: no cover - every other token starts an operand
            raise self.error(f"unexpected '{self.tok.text}'", self.tok.column)
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.tok.kind == "OR":
            operator = self.advance()
            self.expect_operand_after(operator)
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Node:
        children = [self.parse_unary()]
        while True:
            if self.tok.kind == "AND":
                operator = self.advance()
                self.expect_operand_after(operator)
            elif not self.starts_operand(self.tok):
                break
            children.append(self.parse_unary())
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_unary(self) -> Node:
        if self.tok.kind == "NOT":
            operator = self.advance()
            self.expect_operand_after(operator)
            self.enter(operator)
            node = Not(self.parse_unary())
            self.depth -= 1
            return node
        if self.tok.kind == "MINUS":
            operator = self.advance()
            self.expect_operand_after(operator)
            if self.tok.kind in ("NOT", "MINUS"):
                raise self.error("dangling operator '-'", operator.column)
            return Not(self.parse_primary())
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.tok
        if tok.kind == "LPAREN":
            self.advance()
            if self.tok.kind == "RPAREN":
                raise self.error("empty group", self.tok.column)
            if self.tok.kind == "END":
                raise self.error("unexpected end of query", self.tok.column)
            self.enter(tok)
            node = self.parse_or()
            if self.tok.kind != "RPAREN":
                raise self.error("expected ')'", self.tok.column)
            self.advance()
            self.depth -= 1
            return node
        if tok.kind == "FIELD":
            self.advance()
            if self.tok.kind in ("NOT", "MINUS", "AND", "OR", "END", "RPAREN"):
                raise self.error(f"expected a term after '{tok.text}:'", self.tok.column)
            self.enter(tok)
            field = Field(tok.text, self.parse_primary())
            self.depth -= 1
            return field
        if tok.kind == "LANG":
            self.advance()
            return Lang(tok.text)
        if tok.kind == "ALIAS":
            self.advance()
            if self.aliases is not None and tok.text not in self.aliases:
                raise self.error(f"unknown alias set @{tok.text}", tok.column)
            return Alias(tok.text)
        if tok.kind == "WORD":
            self.advance()
            return word_node(tok.text, tok.column, self.query)
        if tok.kind == "PHRASE":
            self.advance()
            return phrase_node(
                tok.text, tok.column, self.query, tok.slop, self.aliases, self.phrase_aliases
            )
        if tok.kind == "END":
            raise self.error("unexpected end of query", tok.column)
        if tok.kind == "RPAREN":
            raise self.error("unexpected ')'", tok.column)
        raise self.error(f"dangling operator '{tok.text}'", tok.column)


def _terms_of(raw: str, column: int, query: str) -> list[Term]:
    """Normalised terms of one query word (``sino-malien*`` → sino, malien*)."""
    prefix = raw.endswith("*")
    body = raw[:-1] if prefix else raw
    found = words(body)
    if not found:
        what = "'*'" if not body else f"'{raw}'"
        raise RuleSyntaxError(f"no letter or digit in {what}", column, query)
    if prefix and len(found[-1]) < MIN_PREFIX:
        raise RuleSyntaxError(
            f"prefix '{raw}' is too short (at least {MIN_PREFIX} characters before '*')",
            column,
            query,
        )
    if prefix and not body[-1:].isalnum():
        raise RuleSyntaxError(f"'*' must follow a letter or digit in '{raw}'", column, query)
    terms = [Term(text) for text in found]
    if prefix:
        terms[-1] = Term(found[-1], prefix=True)
    return terms


def word_node(raw: str, column: int, query: str = "") -> Term | Phrase:
    """A query word; several normalised words (``sino-malien``) make a phrase."""
    terms = _terms_of(raw, column, query)
    return terms[0] if len(terms) == 1 else Phrase(tuple(terms))


def phrase_node(
    content: str,
    column: int,
    query: str = "",
    slop: int | None = None,
    aliases: Collection[str] | None = (),
    phrase_aliases: Collection[str] | None = None,
) -> Term | Phrase | Alias:
    """A quoted phrase; its column is that of the opening quote.

    ``aliases``: names allowed as ``@slots`` (None: any); ``phrase_aliases``: the names
    whose sets hold single words only (None: any).
    """
    terms: list[Term | Alias] = []
    offset = 0
    for chunk in content.split():
        offset = content.index(chunk, offset)
        where = column + 1 + offset
        if chunk.startswith("@"):
            terms.append(_slot(chunk, where, query, aliases, phrase_aliases))
            offset += len(chunk)
            continue
        star = chunk.find("*")
        if 0 <= star < len(chunk) - 1:
            raise RuleSyntaxError("'*' may only end a word", where + star, query)
        if words(chunk.rstrip("*")):
            terms += _terms_of(chunk, where, query)
        elif chunk.endswith("*"):
            raise RuleSyntaxError("'*' must follow a letter or digit", where, query)
        offset += len(chunk)
    if not terms:
        raise RuleSyntaxError("empty phrase", column, query)
    if len(terms) == 1:
        return terms[0]
    return Phrase(tuple(terms), slop)


def _slot(
    chunk: str,
    column: int,
    query: str,
    aliases: Collection[str] | None,
    phrase_aliases: Collection[str] | None,
) -> Alias:
    name = chunk[1:]
    if not name or not all(c.isalnum() or c == "_" for c in name):
        raise RuleSyntaxError(f"bad alias name '{chunk}' in a phrase", column, query)
    if aliases is not None and name not in aliases:
        raise RuleSyntaxError(f"unknown alias set @{name}", column, query)
    if phrase_aliases is not None and name not in phrase_aliases:
        raise RuleSyntaxError(
            f"alias set @{name} holds phrases: only sets of single words fit in a phrase",
            column,
            query,
        )
    return Alias(name)


def check_finds_something(node: Node, query: str) -> None:
    """Refuse a rule that only excludes (``-mali`` would match every item without Mali);
    a policy of saved rules and searches, not of the grammar."""
    if not _finds_something(node):
        raise RuleSyntaxError(
            "the rule only excludes: add what to find (a rule that is only -mali would "
            "match every item without Mali)",
            1,
            query,
        )


def _finds_something(node: Node) -> bool:
    """Does the rule ask for something, rather than only exclude? An OR needs it in
    every branch (``mali OR -chine`` matches nearly everything)."""
    if isinstance(node, Not):
        return False
    if isinstance(node, Field):
        return _finds_something(node.child)
    if isinstance(node, And):
        return any(_finds_something(child) for child in node.children)
    if isinstance(node, Or):
        return all(_finds_something(child) for child in node.children)
    return True


def parse(
    query: str,
    aliases: Collection[str] | None = None,
    phrase_aliases: Collection[str] | None = None,
) -> Node:
    """Parse a rule. ``aliases``: the known alias-set names (None: accept any name);
    ``phrase_aliases``: those usable inside phrases (None: any known one).

    Raises ``RuleSyntaxError`` with the 1-based column of the offending character.
    """
    tokens = _Lexer(query).run()
    return _Parser(query, tokens, aliases, phrase_aliases).parse()


def parse_term(text: str) -> Leaf:
    """Parse one alias-set entry: a word, a prefix or a phrase; quotes are optional
    (``Li Xiang`` is the phrase ``"Li Xiang"``) except for proximity (``"a b"~5``)."""
    stripped = text.strip()
    if stripped.startswith('"'):
        node = parse(stripped, aliases=())
        if not isinstance(node, Term | Phrase):
            raise RuleSyntaxError("an alias term must be one word, prefix or phrase", 1, text)
        return node
    if any(char in stripped for char in '"()@~') or set(stripped.split()) & set(_OPERATORS):
        raise RuleSyntaxError(
            "an alias term must be one word, prefix or phrase (no operators)", 1, text
        )
    node = phrase_node(stripped, 0, text)
    if isinstance(node, Alias):  # pragma: no cover - '@' was refused above
        raise RuleSyntaxError("an alias term cannot name another set", 1, text)
    return node


def render_leaf(node: Leaf | Alias, *, quoted: bool = False) -> str:
    if isinstance(node, Term):
        if not quoted and not node.prefix and node.text in ("and", "or", "not"):
            return f'"{node.text}"'  # bare, it would be refused as a lower-case operator
        return node.text + ("*" if node.prefix else "")
    if isinstance(node, Alias):
        return f"@{node.name}"
    inner = " ".join(render_leaf(term, quoted=True) for term in node.terms)
    return f'"{inner}"' + (f"~{node.slop}" if node.slop is not None else "")


def render(node: Node) -> str:
    """Canonical query text of an AST; ``parse(render(n)) == n`` for parser-made ASTs."""
    if isinstance(node, Term | Phrase):
        return render_leaf(node)
    if isinstance(node, Alias):
        return f"@{node.name}"
    if isinstance(node, Lang):
        return f"lang:{node.code}"
    if isinstance(node, Field):
        return f"{node.name}:{_atom(node.child)}"
    if isinstance(node, Not):
        child = render(node.child)
        return f"-({child})" if isinstance(node.child, And | Or | Not) else f"-{child}"
    joiner = " AND " if isinstance(node, And) else " OR "
    return joiner.join(_operand(child) for child in node.children)


def _atom(node: Node) -> str:
    """Render as a primary: what may follow ``title:`` (groups for compound nodes)."""
    text = render(node)
    return f"({text})" if isinstance(node, And | Or | Not) else text


def _operand(node: Node) -> str:
    """Render as an operand of AND/OR: nested AND/OR groups keep their parentheses."""
    text = render(node)
    return f"({text})" if isinstance(node, And | Or) else text


def leaves(node: Node) -> list[Term | Phrase | Alias]:
    """Every word, phrase and alias of a rule, left to right."""
    if isinstance(node, Term | Phrase | Alias):
        return [node]
    if isinstance(node, Lang):
        return []
    if isinstance(node, Field | Not):
        return leaves(node.child)
    return [leaf for child in node.children for leaf in leaves(child)]
