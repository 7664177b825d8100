"""Chinese fonts for PDFs: TrueType faces that xhtml2pdf embeds as subsets, so a slip reads the same everywhere.

ReportLab embeds TrueType outlines only, and the built-in STSong-Light is never embedded (blank on a machine without
Chinese fonts). The default font therefore comes with the product's dependencies: Noto Sans CJK SC from the
`manimgx-fonts-cjk` wheel, a variable font with PostScript (CFF2) outlines. Converting all of it to TrueType takes
minutes, so each face is cut to the characters it must draw first (fontTools subset), fixed at one weight
(varLib.instancer; the font's default instance is Thin), and only then converted (xhtml2pdf.opentype): well under a
second. The results are kept on disk under the instance folder, named by their characters:

- the *fixed* faces (regular and bold) cover the template's own text, digits and Latin, and are built once;
- a *document* face covers what a document has beyond them (names, the township), usually a few dozen characters.

The fixed faces take seconds to build, so `prepare` builds them ahead of the first document (`flask init`, and
each app start in the background), which then takes no longer than any other.

xhtml2pdf picks, character by character, the first family in a `font-family` list that has the glyph, so a document
lists `fixed, document`. A deployment may instead name its own TrueType font (.ttf, or .ttc with glyf outlines) in
the PDF_FONT setting; it is used whole and ReportLab embeds the subset a document uses.
"""

import hashlib
import importlib
import io
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

SETTING = "PDF_FONT"
NOTO_PACKAGE, NOTO_FILE = "manimgx_fonts_cjk", "NotoSansCJK-VF.otf.ttc"
NOTO_SC_FAMILY = "Noto Sans CJK SC"
REGULAR, BOLD = 400, 700
FIXED, DOCUMENT = "SlipSans", "SlipText"  # name prefixes of the two kinds of cached face
# ASCII, Latin-1 punctuation and the full-width forms a form uses.
BASIC_TEXT = "".join(chr(c) for c in range(0x20, 0x7F)) + "（）：；，。、·—《》“”‘’【】〔〕％＋－／　№"
# Document faces kept on disk; older ones are removed when a new one is written (they can be built again).
KEPT_DOCUMENT_FACES = 500
# What cutting a face imports: loaded by `prepare`, so the first document face does not wait for them.
CUTTING_MODULES = ("fontTools.subset", "fontTools.varLib.instancer", "xhtml2pdf.opentype")
FONT_TABLES_NOT_NEEDED = ("GSUB", "GPOS", "GDEF", "BASE", "VORG", "vhea", "vmtx", "STAT", "HVAR", "VVAR", "MVAR")


class FontUnavailable(RuntimeError):
    """No usable Chinese font: the message says which setting or file to fix."""


@dataclass(frozen=True)
class Face:
    """One TrueType file registered under a family name, at a weight."""

    family: str
    path: Path
    bold: bool = False


@dataclass(frozen=True)
class DocumentFonts:
    """The faces a document needs: @font-face rules, the font-family list, and the folders they are read from."""

    faces: tuple[Face, ...]

    @property
    def families(self) -> str:
        """Return the CSS font-family list, in fallback order."""
        names = dict.fromkeys(f'"{face.family}"' for face in self.faces)
        return ", ".join(names)

    @property
    def css(self) -> str:
        """Return the @font-face rules."""
        return "\n".join(
            f'@font-face {{ font-family: "{face.family}"; src: url("{face.path.as_posix()}");'
            f' font-weight: {"bold" if face.bold else "normal"}; }}'
            for face in self.faces)

    @property
    def folders(self) -> tuple[Path, ...]:
        """Return the folders the faces live in (what the renderer may read)."""
        return tuple(dict.fromkeys(face.path.parent for face in self.faces))


def fonts_for(text: str, fixed_text: str, *, setting: str | None, cache_dir: Path) -> DocumentFonts:
    """Return the faces that draw every character of `text` (`fixed_text` is the template's own, kept across
    documents); raise FontUnavailable when the font is missing, unusable or lacks a character."""
    if setting:
        path = Path(setting)
        _check_covers(_configured_characters(str(path)), text, f"{SETTING}（{path}）")
        # One face: xhtml2pdf draws bold text with it too.
        return DocumentFonts((Face("slip-configured", path),))
    source = noto_sc_path()
    _check_covers(_noto_characters(str(source)), text, f"{NOTO_SC_FAMILY}（{source}）")
    fixed = "".join(sorted(set(fixed_text + BASIC_TEXT)))
    faces = [_subset_face(FIXED, fixed, REGULAR, cache_dir), _subset_face(FIXED, fixed, BOLD, cache_dir)]
    rest = "".join(sorted(set(text) - set(fixed) - {"\n", "\r", "\t"}))
    if rest:
        # Bold text of the document's own characters is drawn in this regular face.
        faces.append(_subset_face(DOCUMENT, rest, REGULAR, cache_dir))
        _prune(cache_dir)
    return DocumentFonts(tuple(faces))


def prepare(fixed_text: str, *, setting: str | None, cache_dir: Path) -> DocumentFonts:
    """Build the fixed faces for `fixed_text` if they are not on disk yet, and load what cutting a document face
    needs, so the first document renders as fast as the rest; return the fixed faces.

    Raises FontUnavailable like `fonts_for`.
    """
    fonts = fonts_for("", fixed_text, setting=setting, cache_dir=cache_dir)
    if not setting:
        for module in CUTTING_MODULES:
            importlib.import_module(module)
    return fonts


def noto_sc_path() -> Path:
    """Return the Noto Sans CJK collection shipped by the font dependency."""
    try:
        path = Path(str(resources.files(NOTO_PACKAGE) / NOTO_FILE))
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise FontUnavailable(
            f"找不到默认中文字体 {NOTO_FILE}（Python 包 manimgx-fonts-cjk）。请重新安装本系统的依赖"
            f"（pip install -e .），或在设置 {SETTING} 中指定一个 TrueType 字体文件（.ttf 或 .ttc）")
    return path


def _check_covers(available: frozenset[int], text: str, font: str) -> None:
    missing = sorted({ch for ch in text if not ch.isspace() and ord(ch) not in available})
    if missing:
        raise FontUnavailable(f"字体 {font} 缺少以下字符，无法生成文件：{''.join(missing)}")


@cache
def _configured_characters(path: str) -> frozenset[int]:
    """Return the characters the PDF_FONT font has, after checking ReportLab can embed it."""
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    if not Path(path).is_file():
        raise FontUnavailable(f"设置 {SETTING} 指向的字体文件不存在：{path}")
    try:
        font = TTFont("slip-configured-check", path, subfontIndex=0)
    except (TTFError, OSError, ValueError) as exc:
        raise FontUnavailable(
            f"设置 {SETTING} 指向的字体无法嵌入 PDF（须为 TrueType 字形的 .ttf 或 .ttc）：{path}：{exc}") from exc
    return frozenset(font.face.charToGlyph)


@cache
def _noto_characters(path: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=_noto_sc_number(path), lazy=True) as font:
        return frozenset(font.getBestCmap())


@cache
def _noto_sc_number(path: str) -> int:
    """Return the number of the Simplified Chinese face in the Noto Sans CJK collection."""
    from fontTools.ttLib import TTCollection

    with TTCollection(path, lazy=True) as collection:
        for number, face in enumerate(collection.fonts):
            if face["name"].getDebugName(1) == NOTO_SC_FAMILY:
                return number
    raise FontUnavailable(f"字体文件 {path} 中没有 {NOTO_SC_FAMILY}；请在设置 {SETTING} 中指定 TrueType 字体")


def _subset_face(prefix: str, characters: str, weight: int, cache_dir: Path) -> Face:
    """Return the face for `characters` at `weight`, building and caching it if needed."""
    family = f"{prefix}-{_digest(characters)}"
    # The file's name is also its PostScript name: ReportLab keeps faces by it, so no two files may share one.
    name = f"{family}-{weight}"
    path = cache_dir / f"{name}.ttf"
    if not path.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        data = build_subset(noto_sc_path(), characters, weight, name)
        # Written beside and renamed: a concurrent render sees either no file or a whole one.
        with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".part", delete=False) as part:
            part.write(data)
        os.replace(part.name, path)
    else:
        path.touch()  # recently used faces are the ones pruning keeps
    return Face(family, path, bold=weight >= BOLD)


def _digest(characters: str) -> str:
    return hashlib.sha256(f"{NOTO_FILE}|{characters}".encode()).hexdigest()[:16]


def build_subset(source: Path, characters: str, weight: int, name: str) -> bytes:
    """Return a TrueType font with the glyphs of `characters` from the Noto Sans SC face at `weight`."""
    from fontTools.ttLib import TTFont

    with TTFont(str(source), fontNumber=_noto_sc_number(str(source)), lazy=True) as font:
        return _cut(font, characters, weight, name)


def _cut(font, characters: str, weight: int, name: str) -> bytes:
    """Subset an open variable font, fix its weight, name it and return it with TrueType outlines."""
    from fontTools import subset
    from fontTools.varLib import instancer
    from xhtml2pdf.opentype import to_truetype

    # Layout and variation tables of the whole font are large and ReportLab draws Chinese without them; leaving
    # them out before subsetting saves parsing them.
    for tag in FONT_TABLES_NOT_NEEDED:
        if tag in font:
            del font[tag]
    options = subset.Options()
    options.layout_features = []
    options.notdef_outline = True
    options.desubroutinize = True
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters)
    subsetter.subset(font)
    instancer.instantiateVariableFont(font, {"wght": weight}, inplace=True)
    names = font["name"]
    for name_id in (1, 3, 4, 6):
        names.setName(name, name_id, 3, 1, 0x409)
        names.setName(name, name_id, 1, 0, 0)
    names.removeNames(nameID=16)
    names.removeNames(nameID=17)
    out = io.BytesIO()
    font.save(out)
    return to_truetype(out.getvalue())


def _prune(cache_dir: Path) -> None:
    """Keep the newest document faces only."""
    faces = sorted(cache_dir.glob(f"{DOCUMENT}-*.ttf"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in faces[KEPT_DOCUMENT_FACES:]:
        old.unlink(missing_ok=True)
