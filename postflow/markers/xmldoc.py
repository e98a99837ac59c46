"""An XML document as the editing applications expect it: declaration, DOCTYPE, indented."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def xml_document(root: ET.Element, doctype: str) -> str:
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE {doctype}>\n{body}\n'


def element(parent: ET.Element, tag: str, text: str | int | None = None, **attributes: str) -> ET.Element:
    """A child of `parent`, with its text (ElementTree escapes text and attributes)."""
    child = ET.SubElement(parent, tag, attributes)
    if text is not None:
        child.text = str(text)
    return child
