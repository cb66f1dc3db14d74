"""Load a YAML file and validate it against a JSON schema, reporting errors as
FILE:LINE: key: what is wrong (and what is allowed), so a user can fix the file. A misspelt
key is reported as unknown, at its own line, with the closest allowed key (not as the
required key it was meant to be)."""
import difflib
from pathlib import Path

import jsonschema
import yaml

from workbench.errors import WorkbenchError


def _line_of(root, path, key=None):
    """The 1-based line of the YAML node at a jsonschema error path (or its nearest parent); with
    `key`, of that key in the mapping at `path`."""
    node = root
    for step in path:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if k.value == str(step)]
            if not match:
                break
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
        else:
            break
    else:
        if key is not None and isinstance(node, yaml.MappingNode):
            node = next((k for k, _ in node.value if k.value == str(key)), node)
    return node.start_mark.line + 1


def error_at(path: Path, root_node, keys, message: str, key=None) -> WorkbenchError:
    where = ".".join(str(k) for k in keys) or "(top level)"
    return WorkbenchError(f"{path}:{_line_of(root_node, keys, key)}: {where}: {message}")


def load(path: Path, schema: dict):
    """Parse and validate; returns (data, root node) so callers can report semantic errors by line."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise WorkbenchError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise WorkbenchError(f"{path}: not valid YAML: {exc}") from exc
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    # A misspelt key fails twice: as an unknown key and as the required key it was meant to be.
    # The unknown key is the one to report, at its own line, with the closest allowed key.
    unknown = [(e, *_unknown_key(e, errors)) for e in errors
               if e.validator == "additionalProperties" and e.validator_value is False]
    if unknown:
        error, key, message = min(unknown, key=lambda u: _line_of(node, list(u[0].absolute_path), u[1]))
        raise error_at(path, node, list(error.absolute_path), message, key)
    error = jsonschema.exceptions.best_match(errors)
    if error is not None:
        raise error_at(path, node, list(error.absolute_path), _explain(error))
    return data, node


def _unknown_key(error, errors) -> tuple:
    """(the first key an `additionalProperties: false` error names, what to say of it): the
    closest allowed key and every allowed one (its properties, or the names a propertyNames enum
    at the same place allows)."""
    allowed = set(error.schema.get("properties", {}))
    key = next(k for k in error.instance if k not in allowed)
    allowed |= {name for e in errors if e.validator == "enum" and e.instance == key
                and list(e.absolute_path) == list(error.absolute_path) for name in e.validator_value}
    allowed = sorted(allowed)
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return key, f"unknown key {key!r}{hint}; allowed keys: {', '.join(allowed)}"


def _explain(error) -> str:
    """jsonschema's message, plus the allowed values where the schema lists them."""
    schema = error.schema
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        return f"{error.message}; allowed keys: {', '.join(allowed)}"
    if error.validator == "enum":
        return f"{error.instance!r} is not allowed; allowed: {', '.join(map(str, schema['enum']))}"
    return error.message
