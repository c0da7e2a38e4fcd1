#!/usr/bin/env python3
"""Generates src/fhir/generated/{stu3,r4}.rs from the official FHIR definitions.

Usage: scripts/gen-fhir-tables.py [DEFINITIONS_DIR]   (default: ../shared/fhir-definitions)
       scripts/gen-fhir-tables.py --check              (exit 1 when the files are stale)

The connector needs, per FHIR version, the resource type names and, for writing XML, every
type's child elements in definition order with their types; `validate` checks templates
against them, including which elements repeat; includes named by their search parameter
follow the element paths of its definition. The definitions are read at build
time only; the generated tables are committed so the daemon needs nothing at run time.
"""
import gzip
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "fhir" / "generated"


def resource_types(defs: pathlib.Path, version: str) -> list[str]:
    with gzip.open(defs / version / "profiles-resources.json.gz", "rt", encoding="utf-8") as f:
        bundle = json.load(f)
    names = set()
    for entry in bundle["entry"]:
        r = entry["resource"]
        if (r.get("resourceType") == "StructureDefinition" and r.get("kind") == "resource"
                and not r.get("abstract") and r.get("derivation", "specialization") == "specialization"):
            names.add(r["id"])
    return sorted(names)


def structure_definitions(defs: pathlib.Path, version: str) -> list[dict]:
    out = []
    for name in ("profiles-types.json.gz", "profiles-resources.json.gz"):
        with gzip.open(defs / version / name, "rt", encoding="utf-8") as f:
            for entry in json.load(f)["entry"]:
                r = entry["resource"]
                if (r.get("resourceType") == "StructureDefinition" and r.get("derivation", "specialization") == "specialization"
                        and r.get("kind") in ("primitive-type", "complex-type", "resource") and "snapshot" in r):
                    out.append(r)
    return out


def element_tables(defs: pathlib.Path, version: str):
    """Per type (or backbone path): its children in order as (name, type), and the names of
    those that repeat (max above 1). A type is a FHIR type name, `A|B` for a choice, or `@Path`
    for a backbone element defined inline."""
    sds = structure_definitions(defs, version)
    primitives = sorted(r["id"] for r in sds if r["kind"] == "primitive-type")
    tables = {}
    repeating = {}
    for r in sds:
        if r["kind"] == "primitive-type":
            continue
        elements = r["snapshot"]["element"]
        paths = [e["path"] for e in elements]
        for i, e in enumerate(elements):
            path = e["path"]
            if "." not in path:
                continue
            parent, name = path.rsplit(".", 1)
            if "contentReference" in e:
                kind = "@" + e["contentReference"].lstrip("#")
            elif any(p.startswith(path + ".") for p in paths[i + 1:i + 2]):
                kind = "@" + path
            else:
                codes = []
                for t in e.get("type", []):
                    code = t.get("code")
                    if code and code.startswith("http://hl7.org/fhirpath/System."):
                        # R4 writes the type of ids and primitive values as FHIRPath types.
                        code = next((x.get("valueUrl") for x in t.get("extension", [])
                                     if x.get("url", "").endswith("structuredefinition-fhir-type")), "string")
                    if code and code not in codes:
                        codes.append(code)
                kind = "|".join(codes)
            tables.setdefault(parent, []).append((name, kind))
            if e.get("max", "1") not in ("0", "1"):
                repeating.setdefault(parent, []).append(name)
    return primitives, dict(sorted(tables.items())), dict(sorted(repeating.items()))


def aliases(defs: pathlib.Path, version: str) -> dict:
    """Constrained types (SimpleQuantity, Age, Money, ...) and the type they constrain."""
    with gzip.open(defs / version / "profiles-types.json.gz", "rt", encoding="utf-8") as f:
        bundle = json.load(f)
    out = {}
    for entry in bundle["entry"]:
        r = entry["resource"]
        if r.get("resourceType") == "StructureDefinition" and r.get("derivation") == "constraint":
            out[r["id"]] = r["baseDefinition"].rsplit("/", 1)[-1]
    return dict(sorted(out.items()))


def reference_params(defs: pathlib.Path, version: str) -> dict:
    """Reference search parameters per (resource, code): the element paths their expression
    follows, for includes by name. `X.medication.as(Reference)` is the element
    `medicationReference`; expressions with functions (`where`, `resolve`) are left out."""
    with gzip.open(defs / version / "search-parameters.json.gz", "rt", encoding="utf-8") as f:
        bundle = json.load(f)
    out = {}
    for entry in bundle["entry"]:
        r = entry["resource"]
        if r.get("resourceType") != "SearchParameter" or r.get("type") != "reference":
            continue
        for part in (r.get("expression") or "").split("|"):
            part = part.strip()
            if part.startswith("(") and part.endswith(")"):
                part = part[1:-1].strip()
            resource, _, rest = part.partition(".")
            if not rest or resource not in r.get("base", []):
                continue
            if rest.endswith(")") and ".as(" in rest:
                element, _, kind = rest[:-1].rpartition(".as(")
                rest = element + kind[:1].upper() + kind[1:]
            elif " as " in rest:
                element, _, kind = rest.partition(" as ")
                rest = element.strip() + kind.strip()[:1].upper() + kind.strip()[1:]
            if "(" in rest or " " in rest:
                continue
            out.setdefault((resource, r["code"]), [])
            if rest not in out[(resource, r["code"])]:
                out[(resource, r["code"])].append(rest)
    return dict(sorted(out.items()))


def render(version: str, types: list[str], primitives: list[str], tables: dict, repeating: dict, alias: dict,
           references: dict) -> str:
    lines = [
        f"// @generated by scripts/gen-fhir-tables.py from the official FHIR {version.upper()} definitions.",
        "// Do not edit by hand; run the script again.",
        "",
        "/// The concrete resource types of this FHIR version, sorted.",
        "pub const RESOURCE_TYPES: &[&str] = &[",
    ]
    lines += [f'    "{t}",' for t in types]
    lines += ["];", ""]
    lines += ["/// Primitive types: written as a `value` attribute in XML.", "pub const PRIMITIVES: &[&str] = &["]
    lines += [f'    "{t}",' for t in primitives]
    lines += ["];", ""]
    lines += ["/// Constrained types and the type whose elements they have.", "pub const ALIASES: &[(&str, &str)] = &["]
    lines += [f'    ("{a}", "{b}"),' for a, b in alias.items()]
    lines += ["];", ""]
    lines += [
        "/// Children of each type or backbone path, in definition order: (name, type), where type is",
        "/// a type name, `A|B` for a choice (`name` ends in `[x]`), or `@Path` for an inline backbone.",
        "pub const ELEMENTS: &[(&str, &[(&str, &str)])] = &[",
    ]
    for parent, children in tables.items():
        inner = ", ".join(f'("{n}", "{k}")' for n, k in children)
        lines.append(f'    ("{parent}", &[{inner}]),')
    lines += ["];", ""]
    lines += [
        "/// Per type or backbone path, its children that repeat (JSON arrays), in definition order.",
        "pub const REPEATING: &[(&str, &[&str])] = &[",
    ]
    for parent, names in repeating.items():
        inner = ", ".join(f'"{n}"' for n in names)
        lines.append(f'    ("{parent}", &[{inner}]),')
    lines += ["];", ""]
    lines += [
        "/// Reference search parameters: (resource, parameter, the element paths it follows).",
        "pub const REFERENCE_PARAMS: &[(&str, &str, &[&str])] = &[",
    ]
    for (resource, code), paths in references.items():
        inner = ", ".join(f'"{p}"' for p in paths)
        lines.append(f'    ("{resource}", "{code}", &[{inner}]),')
    lines += ["];", ""]
    return "\n".join(lines)


def main() -> int:
    check = "--check" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--check"]
    defs = pathlib.Path(args[0]) if args else ROOT.parent / "shared" / "fhir-definitions"
    stale = []
    for version in ("stu3", "r4"):
        primitives, tables, repeating = element_tables(defs, version)
        text = render(version, resource_types(defs, version), primitives, tables, repeating, aliases(defs, version),
                      reference_params(defs, version))
        target = OUT / f"{version}.rs"
        if check:
            if not target.exists() or target.read_text() != text:
                stale.append(str(target))
        else:
            target.write_text(text)
    if stale:
        print("stale generated FHIR tables (run scripts/gen-fhir-tables.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
