"""The one Jinja environment: HTML templates are autoescaped, the Python and text ones
(a promoted module, a stage prompt) are not; an undefined name is an error, never blank."""
from pathlib import Path

import jinja2

ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
                         autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
                         undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                         keep_trailing_newline=True)


def render(template: str, **context) -> str:
    return ENV.get_template(template).render(**context)
