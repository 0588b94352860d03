"""SVG drawing by hand for the report's pictures: a canvas, rectangles, hatching, text, axes, a legend and a title.

Plain string building, no dependency: a picture costs milliseconds. Every text and attribute is escaped, and
characters XML cannot hold are dropped, so any field or antenna name gives a valid file. Text widths are
estimated (``CHAR`` font sizes per character) to keep labels apart; a browser may draw them a little narrower.
"""

import math
import re
from xml.sax.saxutils import escape, quoteattr

__all__ = ["FONT", "CHAR", "text_width", "nice_ticks", "tick_texts", "Canvas", "Axes"]

FONT = "DejaVu Sans, Arial, sans-serif"
CHAR = 0.6  # estimated advance of one character, in font sizes (DejaVu Sans averages ~0.55-0.6)
_LINE = 1.2  # line height, in font sizes
_NOT_XML = re.compile(u"[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd]")


def _clean(text):
    return _NOT_XML.sub("", "" if text is None else str(text))


_QUOTED = {}


def _q(value):
    """An attribute value, quoted and escaped (colours and fills repeat: each is escaped once)."""
    quoted = _QUOTED.get(value)
    if quoted is None:
        quoted = quoteattr(_clean(value))
        if len(_QUOTED) < 256:
            _QUOTED[value] = quoted
    return quoted


def _n(value):
    """A coordinate as short text: two decimals at most."""
    text = "%.2f" % value
    return text.rstrip("0").rstrip(".")


def text_width(text, size):
    """Estimated width in pixels of the longest line of ``text`` at font ``size``."""
    return CHAR * size * max(len(line) for line in str(text).split("\n"))


def nice_ticks(lo, hi, count=6):
    """Return about ``count`` round values (steps of 1, 2, 2.5 or 5 times a power of ten) within [lo, hi]."""
    if not hi > lo:
        return [lo]
    rough = (hi - lo) / float(max(count, 1))
    power = 10.0 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= rough)
    first = math.ceil(lo / step - 1e-9)
    return [(first + i) * step for i in range(int(math.floor(hi / step + 1e-9) - first) + 1)]


def tick_texts(values):
    """Texts of tick values, all with the same (fewest exact) number of decimals: 0.0, 2.5, 5.0."""
    for decimals in range(5):
        if all(abs(v * 10 ** decimals - round(v * 10 ** decimals)) < 1e-6 for v in values):
            break
    return ["%.*f" % (decimals, v) for v in values]


class Canvas(object):
    """An SVG picture of ``width`` x ``height`` pixels on white; ``save`` writes it."""

    def __init__(self, width, height):
        self.width, self.height = width, height
        self._defs, self._body, self._patterns = [], [], {}

    def hatch(self, colour, background, kind="//"):
        """Return the fill (``url(#...)``) of ``background`` hatched with ``colour`` lines: ``//`` or ``xx``."""
        key = (colour, background, kind)
        if key not in self._patterns:
            name = "hatch%d" % len(self._patterns)
            paths = "M-2,2l4,-4M0,8l8,-8M6,10l4,-4" + ("M-2,6l4,4M0,0l8,8M6,-2l4,4" if kind == "xx" else "")
            self._defs.append("<pattern id='%s' patternUnits='userSpaceOnUse' width='8' height='8'>"
                              "<rect width='8' height='8' fill=%s/><path d='%s' stroke=%s stroke-width='1.2'/>"
                              "</pattern>" % (name, _q(background), paths, _q(colour)))
            self._patterns[key] = "url(#%s)" % name
        return self._patterns[key]

    def clip(self, x, y, width, height):
        """Return a ``clip-path`` value that keeps drawing inside the given rectangle."""
        name = "clip%d" % len(self._defs)
        self._defs.append("<clipPath id='%s'><rect x='%s' y='%s' width='%s' height='%s'/></clipPath>" % (
            name, _n(x), _n(y), _n(max(width, 0)), _n(max(height, 0))))
        return "url(#%s)" % name

    def rect(self, x, y, width, height, fill, stroke=None, stroke_width=1.0):
        """A rectangle from its top left corner (negative sizes are turned round)."""
        if width < 0:
            x, width = x + width, -width
        if height < 0:
            y, height = y + height, -height
        edge = " stroke=%s stroke-width='%s'" % (_q(stroke), _n(stroke_width)) if stroke else ""
        self._body.append("<rect x='%s' y='%s' width='%s' height='%s' fill=%s%s/>" % (
            _n(x), _n(y), _n(width), _n(height), _q(fill), edge))

    def line(self, x1, y1, x2, y2, stroke="#000000", width=1.0):
        self._body.append("<line x1='%s' y1='%s' x2='%s' y2='%s' stroke=%s stroke-width='%s'/>" % (
            _n(x1), _n(y1), _n(x2), _n(y2), _q(stroke), _n(width)))

    def text(self, x, y, text, size=12.0, anchor="start", middle=True, rotate=0.0, colour="#000000", clip=None):
        """Text at (x, y): ``anchor`` start, middle or end along the line; lines centred on y if ``middle``,
        else the last line's baseline on y; ``rotate`` degrees clockwise about (x, y)."""
        lines = _clean(text).split("\n")
        if middle:  # the lines' middle on y; 0.35 em brings a baseline down to the middle of the letters
            first = y - (len(lines) - 1) * _LINE * size / 2.0 + 0.35 * size
        else:
            first = y - (len(lines) - 1) * _LINE * size
        attrs = "x='%s' y='%s' font-size='%s'" % (_n(x), _n(first), _n(size))
        if anchor != "start":
            attrs += " text-anchor='%s'" % anchor
        if colour != "#000000":
            attrs += " fill=%s" % _q(colour)
        if rotate:
            attrs += " transform='rotate(%s %s %s)'" % (_n(rotate), _n(x), _n(y))
        if clip:
            attrs += " clip-path=%s" % _q(clip)
        if len(lines) == 1:
            body = escape(lines[0])
        else:
            body = "".join("<tspan x='%s'%s>%s</tspan>" % (_n(x), " dy='%s'" % _n(_LINE * size) if i else "",
                                                           escape(line)) for i, line in enumerate(lines))
        self._body.append("<text %s>%s</text>" % (attrs, body))

    def legend(self, items, right, y, size=13.0, width=None):
        """Swatches and labels ``[(label, fill, stroke)]`` in rows ending at ``right``, the first centred on
        ``y``, wrapped to ``width`` pixels (one ``<g class='legend'>``); return the height used."""
        widths = [28 + 6 + text_width(label, size) + 22 for label, _, _ in items]
        rows, row = [], []
        for item, w in zip(items, widths):
            if row and width and sum(r[1] for r in row) + w > width:
                rows.append(row)
                row = []
            row.append((item, w))
        rows.append(row)
        self._body.append("<g class='legend'>")
        for n, row in enumerate(rows):
            x, yy = right - sum(w for _, w in row) + 22, y + n * _LINE * 1.5 * size
            for (label, fill, stroke), w in row:
                self.rect(x, yy - 6, 28, 12, fill, stroke, 2.0 if stroke else 1.0)
                self.text(x + 34, yy, label, size)
                x += w
        self._body.append("</g>")
        return len(rows) * _LINE * 1.5 * size

    def header(self, title, items, size=16.0, legend_size=13.0):
        """The title at top left and the legend at top right (below the title if they would meet);
        return the height they take."""
        self.text(12, 20, title, size)
        room = self.width - 12 - text_width(title, size) - 30
        need = sum(28 + 6 + text_width(label, legend_size) + 22 for label, _, _ in items)
        if need <= room:
            self.legend(items, self.width - 12, 20, legend_size)
            return 40
        return 40 + self.legend(items, self.width - 12, 46, legend_size, self.width - 24)

    def tostring(self):
        head = ("<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' viewBox='0 0 %d %d' "
                "font-family=%s>" % (self.width, self.height, self.width, self.height, _q(FONT)))
        defs = "<defs>%s</defs>" % "".join(self._defs) if self._defs else ""
        background = "<rect width='100%' height='100%' fill='#ffffff'/>"
        return "\n".join([head, defs, background] + self._body + ["</svg>\n"])

    def save(self, path):
        """Write the picture to ``path`` (UTF-8); return ``path``."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.tostring())
        return path


class Axes(object):
    """A plot area of ``canvas`` with its top left at (x, y), ``width`` x ``height`` pixels, showing
    ``xlim`` x ``ylim`` (a reversed limit turns the axis round)."""

    def __init__(self, canvas, x, y, width, height, xlim, ylim):
        self.canvas, self.x, self.y, self.width, self.height = canvas, x, y, width, height
        self.xlim, self.ylim = xlim, ylim

    def px(self, value):
        return self.x + (value - self.xlim[0]) / float(self.xlim[1] - self.xlim[0]) * self.width

    def py(self, value):
        return self.y + self.height - (value - self.ylim[0]) / float(self.ylim[1] - self.ylim[0]) * self.height

    def bar(self, x0, x1, y0, y1, fill, stroke=None, stroke_width=1.0):
        """A rectangle between data coordinates x0..x1, y0..y1; return its pixel box (x, y, width, height)."""
        left, right = sorted((self.px(x0), self.px(x1)))
        top, bottom = sorted((self.py(y0), self.py(y1)))
        self.canvas.rect(left, top, right - left, bottom - top, fill, stroke, stroke_width)
        return left, top, right - left, bottom - top

    def frame(self, sides="lbrt", colour="#000000"):
        """Axis lines on the named sides (left, bottom, right, top)."""
        x0, y0, x1, y1 = self.x, self.y, self.x + self.width, self.y + self.height
        lines = {"l": (x0, y0, x0, y1), "b": (x0, y1, x1, y1), "r": (x1, y0, x1, y1), "t": (x0, y0, x1, y0)}
        for side in sides:
            self.canvas.line(*lines[side], stroke=colour, width=0.8)

    def xticks(self, values, texts=None, size=12.0, upright=False, grid=None):
        """Ticks and their texts below the plot (written upwards if ``upright``), grid lines of colour ``grid``."""
        bottom = self.y + self.height
        texts = tick_texts(values) if texts is None else texts
        for value, text in zip(values, texts):
            x = self.px(value)
            if grid:
                self.canvas.line(x, self.y, x, bottom, grid, 0.6)
            self.canvas.line(x, bottom, x, bottom + 4, width=0.8)
            if upright:
                self.canvas.text(x, bottom + 6, text, size, anchor="end", rotate=-90)
            else:
                self.canvas.text(x, bottom + 7 + 0.6 * size, text, size, anchor="middle")

    def yticks(self, values, texts=None, size=12.0):
        texts = tick_texts(values) if texts is None else texts
        for value, text in zip(values, texts):
            y = self.py(value)
            self.canvas.line(self.x - 4, y, self.x, y, width=0.8)
            self.canvas.text(self.x - 7, y, text, size, anchor="end")

    def xlabel(self, text, size=13.0, below=30.0):
        self.canvas.text(self.x + self.width / 2.0, self.y + self.height + below, text, size, anchor="middle")

    def ylabel(self, text, size=13.0, left=48.0):
        self.canvas.text(self.x - left, self.y + self.height / 2.0, text, size, anchor="middle", rotate=-90)

    def title(self, text, size=13.0):
        self.canvas.text(self.x, self.y - 10, text, size, middle=False)
