"""Label and field selectors, parsed the way apimachinery's labels.Parse and fields.ParseSelector do.

A parse error raises SelectorError; the caller answers 400 BadRequest as the real server does.
"""


class SelectorError(ValueError):
    pass


_SPECIAL = set(" \t,()=!<>")


def _tokens(text):
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t":
            i += 1
        elif c in ",()":
            yield c
            i += 1
        elif text.startswith("==", i) or text.startswith("!=", i):
            yield text[i:i + 2]
            i += 2
        elif c in "=<>!":
            yield c
            i += 1
        else:
            j = i
            while j < n and text[j] not in _SPECIAL:
                j += 1
            yield ("id", text[i:j])
            i = j


class LabelSelector:
    """A conjunction of requirements (key, op, values). Empty selects everything."""

    def __init__(self, text):
        self.requirements = []
        self.text = text or ""
        toks = list(_tokens(self.text))
        pos = 0

        def take():
            nonlocal pos
            if pos >= len(toks):
                raise SelectorError(f"unable to parse requirement: found end of input in {self.text!r}")
            t = toks[pos]
            pos += 1
            return t

        def ident():
            t = take()
            if not isinstance(t, tuple):
                raise SelectorError(f"unable to parse requirement: expected identifier, found {t!r}")
            return t[1]

        while pos < len(toks):
            t = take()
            if t == "!":
                self.requirements.append((ident(), "!", ()))
            elif isinstance(t, tuple):
                key = t[1]
                nxt = toks[pos] if pos < len(toks) else ","
                if nxt == ",":
                    self.requirements.append((key, "exists", ()))
                elif nxt in ("=", "==", "!=", ">", "<"):
                    pos += 1
                    value = ""
                    if pos < len(toks) and isinstance(toks[pos], tuple):
                        value = ident()
                    op = "=" if nxt == "==" else nxt
                    if op in (">", "<"):
                        try:
                            int(value)
                        except ValueError:
                            raise SelectorError(f"for {op!r} operator, the value must be an integer")
                    self.requirements.append((key, op, (value,)))
                elif isinstance(nxt, tuple) and nxt[1] in ("in", "notin"):
                    pos += 1
                    if take() != "(":
                        raise SelectorError(f"found {nxt[1]!r}, expected '('")
                    values = []
                    while True:
                        t2 = take()
                        if t2 == ")":
                            break
                        if t2 == ",":
                            continue
                        if not isinstance(t2, tuple):
                            raise SelectorError(f"unexpected {t2!r} in value set")
                        values.append(t2[1])
                    self.requirements.append((key, nxt[1], tuple(values)))
                else:
                    raise SelectorError(f"unable to parse requirement: unexpected {nxt!r} after {key!r}")
            else:
                raise SelectorError(f"unable to parse requirement: unexpected {t!r}")
            if pos < len(toks):
                if toks[pos] != ",":
                    raise SelectorError(f"expected ',' in {self.text!r}")
                pos += 1

    def empty(self):
        return not self.requirements

    def matches(self, labels):
        labels = labels or {}
        for key, op, values in self.requirements:
            present = key in labels
            v = labels.get(key)
            if op == "exists" and not present:
                return False
            if op == "!" and present:
                return False
            if op == "=" and v != values[0]:
                return False
            if op == "!=" and present and v == values[0]:
                return False
            if op == "in" and v not in values:
                return False
            if op == "notin" and present and v in values:
                return False
            if op in (">", "<"):
                try:
                    n = int(v)
                except (TypeError, ValueError):
                    return False
                if (op == ">" and not n > int(values[0])) or (op == "<" and not n < int(values[0])):
                    return False
        return True


def _split_unescaped(text, sep):
    parts, cur, i = [], [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if c == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(value):
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            out.append(value[i + 1])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


class FieldSelector:
    """`a=b,c!=d` over a fixed set of per-resource fields; unknown fields are an error (as upstream)."""

    def __init__(self, text, resource):
        self.text = text or ""
        self.requirements = []
        allowed = {"metadata.name", "metadata.namespace"} | set(resource.fields)
        for term in _split_unescaped(self.text, ","):
            term = term.strip()
            if not term:
                continue
            for op in ("!=", "==", "="):
                idx = term.find(op)
                if idx > 0:
                    key, value = term[:idx].strip(), _unescape(term[idx + len(op):].strip())
                    break
            else:
                raise SelectorError(f"invalid selector: '{self.text}'; can't understand '{term}'")
            if key not in allowed:
                raise SelectorError(f'field label not supported: {key}')
            self.requirements.append((key, "!=" if op == "!=" else "=", value))

    def empty(self):
        return not self.requirements

    def name_only(self):
        """The single name an exact `metadata.name=` selector pins, or None."""
        names = [v for k, op, v in self.requirements if k == "metadata.name" and op == "="]
        return names[0] if names else None

    def matches(self, obj):
        for key, op, value in self.requirements:
            actual = _field(obj, key)
            if (actual == value) != (op == "="):
                return False
        return True


def _field(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if path == "source" and isinstance(cur, dict):  # core Event: `source` selects source.component
        cur = cur.get("component")
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)
