#!/usr/bin/env python3
"""Checks that our XML and our JSON are the same resources, read by an independent
implementation (Python fhir.resources with lxml).

Usage: compare_xml.py VERSION FILE
  FILE  a JSON list of {"json": <resource>, "xml": "<xml text>"} pairs
Prints one line per pair that differs and exits 1 if any; prints "N same" otherwise.
"""
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
        if from_json != from_xml:
            failures += 1
            print(f"pair {i} ({pair['json']['resourceType']}): XML and JSON differ")
            print(" json:", json.dumps(from_json, sort_keys=True)[:2000])
            print(" xml: ", json.dumps(from_xml, sort_keys=True)[:2000])
    if failures:
        print(f"{failures} of {len(pairs)} pairs differ")
        return 1
    print(f"{len(pairs)} same")
    return 0


if __name__ == "__main__":
    sys.exit(main())
