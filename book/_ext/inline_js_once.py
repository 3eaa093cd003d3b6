"""Every inline <script> of a page once, not twice (a Sphinx 7.4 bug, fixed upstream in 8.2).

Sphinx 7.4 registers an inline script that an extension adds after the HTML builder has started
(sphinx-thebe's `const THEBE_JS_URL = ...`, sphinx-togglebutton's selector) under the file name
None and again, when pages are written, under '' - so every page carries it twice, and the second
`const` declaration is a SyntaxError in the browser console (tools/site_check.py reports it).
sphinx-doc/sphinx#13402 fixed it in Sphinx 8.2; Jupyter Book 1.x requires Sphinx 7. This
extension gives the builder '' in both cases, so the two registrations are recognised as one.
"""

from sphinx.builders.html import StandaloneHTMLBuilder

_register_js_file = StandaloneHTMLBuilder.add_js_file


def _register_js_file_once(builder, filename, *args, **kwargs):
    return _register_js_file(builder, filename or "", *args, **kwargs)


def setup(app):
    StandaloneHTMLBuilder.add_js_file = _register_js_file_once
    return {"parallel_read_safe": True, "parallel_write_safe": True}
