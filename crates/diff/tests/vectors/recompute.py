#!/usr/bin/env python3
"""Recomputes WorkflowOps content hashes from docs/content-hash.md, independently of the Rust
code. Standard library only.

usage: recompute.py [--resolve MAP] FILE...   prints "<hash>  <file>" or "error: <reason>  <file>"
       recompute.py [--resolve MAP] --canonical FILE   prints the canonical bytes
MAP is a JSON object from instance workflow id to the token of the workflow it names
(section 6 of docs/content-hash.md); without it no reference is resolved.
"""
import hashlib
import json
import math
import re
import sys

MAX_DEPTH = 100
NODE_DROPPED = ("id", "webhookId", "position", "positionAbsolute")
CALLER_TYPES = ("n8n-nodes-base.executeWorkflow", "@n8n/n8n-nodes-langchain.toolWorkflow")
RESOLVE = {}
FIELD_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")


class Rejected(Exception):
    pass


def no_duplicates(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise Rejected("duplicate key %r" % k)
        seen[k] = v
    return seen


def no_constant(name):
    raise Rejected("%s is not JSON" % name)


def parse(raw):
    if raw.startswith(b"\xef\xbb\xbf"):
        raise Rejected("byte order mark")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Rejected("invalid UTF-8: %s" % e)
    try:
        doc = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant)
    except (ValueError, RecursionError) as e:
        raise Rejected("invalid JSON: %s" % e)
    check(doc, 1)
    return doc


def check(v, depth):
    """Depth, finite numbers, no lone surrogates (Python's json accepts all three)."""
    if isinstance(v, (dict, list)):
        if depth > MAX_DEPTH:
            raise Rejected("nested deeper than %d" % MAX_DEPTH)
        items = v.items() if isinstance(v, dict) else enumerate(v)
        for k, x in items:
            if isinstance(k, str):
                check(k, depth)
            check(x, depth + 1)
    elif isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise Rejected("lone surrogate")
    elif isinstance(v, float) and not math.isfinite(v):
        raise Rejected("number out of range")
    elif isinstance(v, int) and not isinstance(v, bool) and not math.isfinite(float_of(v)):
        raise Rejected("number out of range")


def float_of(i):
    try:
        return float(i)
    except OverflowError:
        return math.inf


def js_number(x):
    """ECMAScript Number::toString (RFC 8785 section 3.2.2.3)."""
    x = float_of(x) if isinstance(x, int) else x
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    r = repr(abs(x))  # shortest digits that round-trip
    mant, _, exp = r.partition("e")
    ip, _, fp = mant.partition(".")
    digits = (ip + fp).lstrip("0")
    e = (int(exp) if exp else 0) - len(fp)
    stripped = digits.rstrip("0")
    e += len(digits) - len(stripped)
    s, k = stripped, len(stripped)
    n = e + k  # value = 0.s * 10^n
    if k <= n <= 21:
        out = s + "0" * (n - k)
    elif 0 < n <= 21:
        out = s[:n] + "." + s[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + s
    else:
        p = n - 1
        out = (s if k == 1 else s[0] + "." + s[1:]) + "e" + ("+" if p > 0 else "-") + str(abs(p))
    return sign + out


ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def js_string(s):
    out = ['"']
    for c in s:
        if c in ESCAPES:
            out.append(ESCAPES[c])
        elif ord(c) < 0x20:
            out.append("\\u%04x" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def utf16_key(s):
    return s.encode("utf-16-be")


def jcs(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return js_number(v)
    if isinstance(v, str):
        return js_string(v)
    if isinstance(v, list):
        return "[" + ",".join(jcs(x) for x in v) + "]"
    keys = sorted(v, key=utf16_key)
    return "{" + ",".join(js_string(k) + ":" + jcs(v[k]) for k in keys) + "}"


def empty_output(o):
    return o is None or o == []


def normalize_connections(conns):
    out = {}
    for src, types in conns.items():
        if not isinstance(types, dict):
            out[src] = types
            continue
        t_out = {}
        for t, outputs in types.items():
            if not isinstance(outputs, list):
                t_out[t] = outputs
                continue
            outputs = list(outputs)
            while outputs and empty_output(outputs[-1]):
                outputs.pop()
            if not outputs:
                continue
            norm = []
            for o in outputs:
                if o is None:
                    norm.append([])
                elif isinstance(o, list):
                    norm.append(sorted(o, key=lambda x: jcs(x).encode("utf-8")))
                else:
                    norm.append(o)
            t_out[t] = norm
        if t_out:
            out[src] = t_out
    return out


def is_reference_id(v):
    return isinstance(v, str) and v != "" and not v.startswith("=")


def reference_token(wid):
    return {"canonical": RESOLVE[wid]} if wid in RESOLVE else wid


def normalize_reference(node):
    if node.get("type") not in CALLER_TYPES or not isinstance(node.get("parameters"), dict):
        return
    params = dict(node["parameters"])
    source = params.get("source")
    if isinstance(source, str) and source != "database":
        return
    wid = params.get("workflowId")
    if is_reference_id(wid):
        params["workflowId"] = reference_token(wid)
    elif isinstance(wid, dict) and wid.get("__rl") is True and is_reference_id(wid.get("value")):
        rl = {k: v for k, v in wid.items() if k not in ("cachedResultName", "cachedResultUrl")}
        rl["value"] = reference_token(wid["value"])
        params["workflowId"] = rl
    else:
        return
    node["parameters"] = params


def normalize(w):
    if not isinstance(w, dict):
        raise Rejected("a workflow must be a JSON object")
    for k in sorted(w, key=utf16_key):
        if not FIELD_NAME.match(k):
            raise Rejected("top-level key %r is not a workflow field name" % k)
    if "nodes" not in w:
        raise Rejected("no nodes")
    if not isinstance(w["nodes"], list):
        raise Rejected("nodes must be an array")
    if "connections" not in w:
        raise Rejected("no connections")
    if not isinstance(w["connections"], dict):
        raise Rejected("connections must be an object")
    out = {}
    if "name" in w:
        if not isinstance(w["name"], str):
            raise Rejected("name must be a string")
        out["name"] = w["name"]
    settings = w.get("settings")
    if settings is not None and not isinstance(settings, dict):
        raise Rejected("settings must be an object or null")
    if settings:
        out["settings"] = settings
    nodes = []
    for i, n in enumerate(w["nodes"]):
        if not isinstance(n, dict):
            raise Rejected("node %d must be an object" % i)
        if "name" not in n:
            raise Rejected("node %d has no name" % i)
        if not isinstance(n["name"], str):
            raise Rejected("node %d name is not a string" % i)
        m = {k: v for k, v in n.items() if k not in NODE_DROPPED}
        if isinstance(m.get("credentials"), dict):
            m["credentials"] = {
                t: (c.get("name") if isinstance(c, dict) else c) for t, c in m["credentials"].items()
            }
        normalize_reference(m)
        nodes.append(m)
    nodes.sort(key=lambda n: utf16_key(n["name"]))
    for a, b in zip(nodes, nodes[1:]):
        if a["name"] == b["name"]:
            raise Rejected("duplicate node name %r" % a["name"])
    out["nodes"] = nodes
    out["connections"] = normalize_connections(w["connections"])
    return out


def canonical(raw):
    return jcs(normalize(parse(raw))).encode("utf-8")


def main(args):
    if args[:1] == ["--resolve"]:
        with open(args[1], "rb") as f:
            RESOLVE.update(json.load(f))
        args = args[2:]
    show = args[:1] == ["--canonical"]
    for path in args[1:] if show else args:
        with open(path, "rb") as f:
            raw = f.read()
        try:
            c = canonical(raw)
        except Rejected as e:
            print("error: %s  %s" % (e, path))
            continue
        if show:
            sys.stdout.buffer.write(c + b"\n")
        else:
            print("%s  %s" % (hashlib.sha256(c).hexdigest(), path))


if __name__ == "__main__":
    main(sys.argv[1:])
