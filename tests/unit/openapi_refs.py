#!/usr/bin/env python3
"""Checks api/openapi.yaml as an OpenAPI 3.0 document, with python3-yaml only.

usage: openapi_refs.py OPENAPI.yaml [COMMANDS.c]

Checks that the document loads, that every "$ref" resolves inside it, and the
OpenAPI 3.0 rules a reader trips over first: the version, path keys, path
parameters declared for every {template} part, operations with responses
keyed by status, unique operationIds, security schemes that exist, object
schemas whose "required" members are among their properties. Each operation
says the role it needs in x-required-role; with COMMANDS.c, that role must be
the one its ROUTES table gives the route (commands.h does not expose roles).

Prints every problem found and exits 1 when there is any.
"""
import re
import sys

try:
    import yaml
except ImportError:
    print("openapi_refs.py: python3-yaml is missing (apt-get install python3-yaml)")
    sys.exit(1)

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ROLES = ("none", "viewer", "operator", "admin")


def pointer_get(doc, ref):
    """The node that a local reference ("#/a/b~1c") names, or raise KeyError."""
    if not ref.startswith("#/"):
        raise KeyError("not a reference inside this document")
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError("no member '%s'" % part)
    return node


def escape(key):
    """key as one part of a JSON pointer (RFC 6901)."""
    return str(key).replace("~", "~0").replace("/", "~1")


def walk(node, where):
    """Yields (location, node) for every mapping and list below node."""
    yield where, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, "%s/%s" % (where, escape(k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, "%s/%d" % (where, i))


def deref(doc, node):
    """node with a local $ref followed (one level is all the document uses
    for parameters and responses); None when it does not resolve."""
    if isinstance(node, dict) and "$ref" in node:
        try:
            return pointer_get(doc, node["$ref"])
        except KeyError:
            return None
    return node


def check_refs(doc, problems):
    for where, node in walk(doc, "#"):
        if isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str):
                problems.append("%s: $ref is not a string" % where)
                continue
            try:
                pointer_get(doc, ref)
            except KeyError as e:
                problems.append("%s: $ref %s does not resolve (%s)" % (where, ref, e.args[0]))


def check_schemas(doc, problems):
    for where, node in walk(doc.get("components", {}).get("schemas", {}),
                            "#/components/schemas"):
        if not isinstance(node, dict):
            continue
        props, required = node.get("properties"), node.get("required")
        if isinstance(props, dict) and isinstance(required, list):
            for name in required:
                if name not in props:
                    problems.append("%s: required member '%s' is not among its properties"
                                    % (where, name))


def check_operations(doc, problems):
    schemes = doc.get("components", {}).get("securitySchemes", {}) or {}
    for req in doc.get("security", []) or []:
        for name in req:
            if name not in schemes:
                problems.append("#/security: no security scheme '%s'" % name)
    op_ids = {}
    roles = {}
    paths = doc.get("paths")
    if not isinstance(paths, dict) or not paths:
        problems.append("#/paths: missing or empty")
        return roles
    for path, item in paths.items():
        where = "#/paths/" + escape(path)
        if not isinstance(path, str) or not path.startswith("/"):
            problems.append("%s: a path must start with '/'" % where)
            continue
        if not isinstance(item, dict):
            problems.append("%s: not a mapping" % where)
            continue
        templated = set(re.findall(r"\{([^}/]+)\}", path))
        path_params = [deref(doc, p) for p in item.get("parameters", [])]
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            here = "%s/%s" % (where, method)
            params = path_params + [deref(doc, p) for p in op.get("parameters", [])]
            declared = set()
            for p in params:
                if not isinstance(p, dict) or "name" not in p or "in" not in p:
                    problems.append("%s: a parameter without name or in" % here)
                    continue
                if p["in"] not in ("query", "header", "path", "cookie"):
                    problems.append("%s: parameter %s is in '%s'" % (here, p["name"], p["in"]))
                if "schema" not in p and "content" not in p:
                    problems.append("%s: parameter %s has neither schema nor content"
                                    % (here, p["name"]))
                if p["in"] == "path":
                    declared.add(p["name"])
                    if p.get("required") is not True:
                        problems.append("%s: path parameter %s must be required: true"
                                        % (here, p["name"]))
            for name in sorted(templated - declared):
                problems.append("%s: path parameter {%s} is not declared" % (here, name))
            for name in sorted(declared - templated):
                problems.append("%s: path parameter %s is not in the path" % (here, name))
            op_id = op.get("operationId")
            if op_id in op_ids:
                problems.append("%s: operationId %s also at %s" % (here, op_id, op_ids[op_id]))
            elif op_id:
                op_ids[op_id] = here
            responses = op.get("responses")
            if not isinstance(responses, dict) or not responses:
                problems.append("%s: no responses" % here)
                responses = {}
            for code, resp in responses.items():
                if not (code == "default" or (isinstance(code, str) and re.fullmatch(r"[1-5]\d\d", code))):
                    problems.append("%s: response key %r is not a quoted status or default"
                                    % (here, code))
                r = deref(doc, resp)
                if r is None:
                    continue    # check_refs names the reference
                if not isinstance(r, dict) or not isinstance(r.get("description"), str):
                    problems.append("%s/responses/%s: no description" % (here, code))
            for req in op.get("security", []) or []:
                for name in req:
                    if name not in schemes:
                        problems.append("%s: no security scheme '%s'" % (here, name))
            role = op.get("x-required-role")
            if role not in ROLES:
                problems.append("%s: x-required-role is %r, not one of %s"
                                % (here, role, ", ".join(ROLES)))
                continue
            is_open = op.get("security") == []
            if (role == "none") != is_open:
                problems.append("%s: x-required-role %s but security %s" % (
                    here, role, "[] (open)" if is_open else "needs a token"))
            roles[(method.upper(), path)] = role
    return roles


def check_roles_against_code(roles, commands_c, problems):
    """Each route of the ROUTES table in commands.c against x-required-role."""
    text = open(commands_c, encoding="utf-8").read()
    table = re.search(r"ROUTES\[\]\s*=\s*\{(.*?)\n\};", text, re.S)
    rows = re.findall(r'\{\s*"([A-Z]+)",\s*"([^"]+)",\s*RK_\w+,\s*ROLE_([A-Z]+)\s*,',
                      table.group(1)) if table else []
    if not rows:
        problems.append("%s: found no ROUTES table of { \"METHOD\", \"/path\", RK_..., "
                        "ROLE_... } rows; this check needs updating" % commands_c)
        return
    for method, path, role in rows:
        want = role.lower()
        got = roles.get((method, path))
        if got is None:
            continue    # a route missing from the document is unit-openapi's finding
        if got != want:
            problems.append("%s %s: the document says x-required-role %s, commands.c "
                            "ROLE_%s" % (method, path, got, role))


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2])
        return 2
    problems = []
    try:
        with open(argv[1], encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        print("%s: %s" % (argv[1], e))
        return 1
    if not isinstance(doc, dict):
        print("%s: not a YAML mapping" % argv[1])
        return 1
    if not re.fullmatch(r"3\.0\.\d+", str(doc.get("openapi", ""))):
        problems.append("#/openapi: %r is not 3.0.x" % doc.get("openapi"))
    info = doc.get("info")
    if not isinstance(info, dict) or not isinstance(info.get("title"), str) \
            or not isinstance(info.get("version"), str):
        problems.append("#/info: needs title and version, both strings")
    check_refs(doc, problems)
    check_schemas(doc, problems)
    roles = check_operations(doc, problems)
    if len(argv) == 3:
        check_roles_against_code(roles, argv[2], problems)
    for p in problems:
        print("%s: %s" % (argv[1], p))
    n_ops = len(roles)
    print("%s: %d operations, %d problems" % (argv[1], n_ops, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
