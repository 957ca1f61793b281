#!/usr/bin/env python3
"""Check fim's ECS and OCSF events against the published schemas.

    validate.py ocsf EVENTS.jsonl            OCSF 1.1.0, as JSON Schema (PyPI package
                                             ocsf-json-schema): file events as File System
                                             Activity (1001), detections (web, auth, ...)
                                             as Detection Finding (2004)
    validate.py ecs EVENTS.jsonl FIELDS.json every field against Elastic's ecs_flat
                                             (npm package @elastic/ecs, as JSON); file
                                             events are event.kind "event", detections
                                             "alert"

Prints one line per problem, then how many events of each class were checked, and exits
1 when there is any problem.
"""
import json
import sys
import re

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")

# fim's own namespace (ECS custom fields) and the one hash ECS has no field for.
ECS_EXTENSIONS = ("fim.", "file.hash.blake3")


# The OCSF classes fim maps to, by class_uid.
OCSF_CLASSES = {1001: "file_activity", 2004: "detection_finding"}


def ocsf(lines, classes):
    import jsonschema
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema("1.1.0"))
    validators = {
        uid: jsonschema.Draft202012Validator(schema.get_class_schema(name))
        for uid, name in OCSF_CLASSES.items()
    }
    for n, event in lines:
        uid = event.get("class_uid")
        if uid not in validators:
            yield f"line {n}: class_uid: {uid!r} is not one of {sorted(OCSF_CLASSES)}"
            continue
        classes[OCSF_CLASSES[uid]] = classes.get(OCSF_CLASSES[uid], 0) + 1
        for error in validators[uid].iter_errors(event):
            yield f"line {n}: {'/'.join(map(str, error.absolute_path))}: {error.message}"


def flatten(value, prefix=""):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from flatten(inner, f"{prefix}{key}.")
    else:
        yield prefix[:-1], value


def ecs_type_ok(kind, value):
    if isinstance(value, list):
        return all(ecs_type_ok(kind, v) for v in value)
    if kind in ("keyword", "constant_keyword", "wildcard", "match_only_text", "text"):
        return isinstance(value, str)
    if kind in ("long", "integer", "short", "byte", "unsigned_long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "date":
        return isinstance(value, str) and RFC3339.match(value) is not None
    return True


def ecs(lines, fields, classes):
    for n, event in lines:
        category = event.get("event", {}).get("category")
        # A file event is of the dataset "file"; a detection (of a file too, as a
        # changed package file) is an alert of its family's dataset ("fim.host").
        dataset = event.get("event", {}).get("dataset")
        expected = "event" if dataset == "file" else "alert"
        kind = event.get("event", {}).get("kind")
        classes[expected] = classes.get(expected, 0) + 1
        if kind != expected:
            yield f"line {n}: event.kind: {kind!r} for event.category {category!r}, not {expected!r}"
        for key, value in flatten(event):
            if key.startswith(ECS_EXTENSIONS):
                continue
            field = fields.get(key)
            if field is None:
                yield f"line {n}: {key}: not an ECS field"
                continue
            if not ecs_type_ok(field["type"], value):
                yield f"line {n}: {key}: {value!r} is not of ECS type {field['type']}"
            allowed = [a["name"] for a in field.get("allowed_values") or []]
            values = value if isinstance(value, list) else [value]
            if allowed and any(v not in allowed for v in values):
                yield f"line {n}: {key}: {value!r} is not one of {allowed}"


def main():
    kind, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        lines = [(n, json.loads(line)) for n, line in enumerate(f, 1) if line.strip()]
    if not lines:
        print(f"{path}: no events")
        return 1
    classes = {}
    if kind == "ocsf":
        problems = list(ocsf(lines, classes))
    else:
        with open(sys.argv[3], encoding="utf-8") as f:
            problems = list(ecs(lines, json.load(f), classes))
    for p in problems:
        print(p)
    for name, count in sorted(classes.items()):
        print(f"{name}: {count}")
    print(f"{len(lines)} {kind} events checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
