"""An XML document as the editing applications expect it: declaration, DOCTYPE, indented."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

# Characters XML 1.0 has no way to write, not even escaped (its Char production): a comment
# holding one would make the whole file unreadable, so they are left out.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_document(root: ET.Element, doctype: str) -> str:
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE {doctype}>\n{body}\n'


def element(parent: ET.Element, tag: str, text: str | int | None = None, **attributes: str) -> ET.Element:
    """A child of `parent`, with its text (ElementTree escapes text and attributes)."""
    child = ET.SubElement(parent, tag, {name: NOT_XML.sub("", value) for name, value in attributes.items()})
    if text is not None:
        child.text = NOT_XML.sub("", str(text))
    return child
