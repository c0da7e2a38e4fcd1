#!/usr/bin/env python3
"""Checks that our XML and our JSON are the same resources, read by an independent
implementation (Python fhir.resources with lxml).

Usage: compare_xml.py VERSION FILE
  FILE  a JSON list of {"json": <resource>, "xml": "<xml text>"} pairs
Prints one line per pair that differs and exits 1 if any; prints "N same" otherwise.
"""
import html
import json
import sys


def main() -> int:
    version, path = sys.argv[1], sys.argv[2]
    if version == "stu3":
        from fhir.resources.STU3 import get_fhir_model_class
    else:
        from fhir.resources.R4B import get_fhir_model_class
    with open(path, encoding="utf-8") as f:
        pairs = json.load(f)
    failures = 0
    for i, pair in enumerate(pairs):
        model = get_fhir_model_class(pair["json"]["resourceType"])
        try:
            from_json = model.model_validate(pair["json"]).model_dump(mode="json", exclude_none=True)
            from_xml = model.model_validate_xml(pair["xml"].encode("utf-8")).model_dump(mode="json", exclude_none=True)
        except Exception as e:
            failures += 1
            print(f"pair {i}: {e}")
            continue
        from_json, from_xml = same_narrative(from_json), same_narrative(from_xml)
        if from_json != from_xml:
            failures += 1
            print(f"pair {i} ({pair['json']['resourceType']}): XML and JSON differ")
            path, a, b = first_difference(from_json, from_xml)
            print(f" at {path}:")
            print(" json:", json.dumps(a, sort_keys=True)[:600])
            print(" xml: ", json.dumps(b, sort_keys=True)[:600])
    if failures:
        print(f"{failures} of {len(pairs)} pairs differ")
        return 1
    print(f"{len(pairs)} same")
    return 0


def same_narrative(value):
    """A narrative div with its character references resolved: the XML reader writes "ë" back
    as "&#235;", which is the same XHTML."""
    if isinstance(value, dict):
        return {k: html.unescape(v) if k == "div" and isinstance(v, str) else same_narrative(v) for k, v in value.items()}
    if isinstance(value, list):
        return [same_narrative(v) for v in value]
    return value


def first_difference(a, b, path="$"):
    """The first place where two JSON values differ, and what each holds there."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return first_difference(a.get(key), b.get(key), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for k, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{k}]")
    return path, a, b


if __name__ == "__main__":
    sys.exit(main())
