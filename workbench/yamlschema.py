"""Load a YAML file and validate it against a JSON schema, reporting errors as
FILE:LINE: key: what is wrong (and what is allowed), so a user can fix the file."""
from pathlib import Path

import jsonschema
import yaml

from workbench.errors import WorkbenchError


def _line_of(root, path):
    """The 1-based line of the YAML node at a jsonschema error path (or its nearest parent)."""
    node = root
    for key in path:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if k.value == str(key)]
            if not match:
                break
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
    return node.start_mark.line + 1


def error_at(path: Path, root_node, keys, message: str) -> WorkbenchError:
    where = ".".join(str(k) for k in keys) or "(top level)"
    return WorkbenchError(f"{path}:{_line_of(root_node, keys)}: {where}: {message}")


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
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if error is not None:
        raise error_at(path, node, list(error.absolute_path), _explain(error))
    return data, node


def _explain(error) -> str:
    """jsonschema's message, plus the allowed values where the schema lists them."""
    schema = error.schema
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        return f"{error.message}; allowed keys: {', '.join(allowed)}"
    if error.validator == "enum":
        return f"{error.instance!r} is not allowed; allowed: {', '.join(map(str, schema['enum']))}"
    return error.message
