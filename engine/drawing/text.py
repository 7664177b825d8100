"""Text layout without fonts: estimated widths, line breaking by words (Latin) or characters (Chinese).

Widths are estimates in em: full-width characters (CJK, most emoji) are 1 em, everything else 0.6 em, which is a
little wider than the fonts the pages use, so an estimated line never overflows the space it was fitted to.
"""

import re
import unicodedata

FONT_SIZE = 12.0
LINE_HEIGHT = 1.2  # in em
ASCENT = 0.9  # baseline below the top of a line, in em
# Never at the start of a line (closing marks) / never at its end (opening marks), as Chinese typesetting requires.
CLOSING = set("，。、；：？！）》」』】〕〉”’…—·,.;:?!)]}%")
OPENING = set("（《「『【〔〈“‘([{")
_NEWLINE = re.compile(r"\r\n|\r|\n")


def char_width(char: str) -> float:
    """Return the estimated advance of one character, in em."""
    if unicodedata.combining(char) or unicodedata.category(char) in {"Mn", "Me", "Cf"}:
        return 0.0
    return 1.0 if unicodedata.east_asian_width(char) in {"W", "F"} else 0.6


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """Return the estimated width of `text` in pixels at font size `size`."""
    return sum(char_width(c) for c in text) * size


def _breakable(char: str) -> bool:
    # Full-width text may break between any two characters; Latin words only at spaces.
    return unicodedata.east_asian_width(char) in {"W", "F"} and char not in CLOSING and char not in OPENING


def _tokens(paragraph: str) -> list[tuple[str, bool]]:
    """Split a paragraph into unbreakable pieces, each with whether a space comes before it."""
    tokens: list[tuple[str, bool]] = []
    word, spaced, glue_next = "", False, False

    def flush() -> None:
        nonlocal word, spaced
        if word:
            tokens.append((word, spaced))
            word, spaced = "", False

    for char in paragraph:
        if char.isspace():
            flush()
            spaced, glue_next = bool(tokens), False
        elif char_width(char) == 0 or char in CLOSING:
            # Combining marks, joiners and closing punctuation stay with what precedes them.
            if word:
                word += char
            elif tokens and not spaced:
                last, last_spaced = tokens.pop()
                word, spaced = last + char, last_spaced
            else:
                word = char
        elif char in OPENING:
            flush()
            word, glue_next = char, True
        elif _breakable(char):
            if glue_next:
                word += char
                glue_next = False
                continue
            flush()
            word = char
            flush()
        else:
            if word and _breakable(word[-1]):
                flush()
            word += char
            glue_next = False
    flush()
    return tokens


def wrap(text: str, width: float, size: float = FONT_SIZE) -> list[str]:
    """Break `text` into lines no wider than `width` where possible, honouring the line breaks it contains.

    A single word wider than `width` keeps a line of its own rather than being cut: the caller lets it overflow.
    """
    lines = []
    for paragraph in _NEWLINE.split(text):
        line = ""
        for token, spaced in _tokens(paragraph):
            candidate = f"{line} {token}" if spaced and line else line + token
            if not line or text_width(candidate, size) <= width:
                line = candidate
            else:
                lines.append(line)
                line = token
        if line:
            lines.append(line)
    return lines
