"""Pieces of the server-side BPMN drawing: the diagram model read from DI, text layout, the SVG canvas, the shapes.

`engine.svg.render_svg` puts them together; nothing here needs a browser or font files.
"""
