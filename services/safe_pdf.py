"""Rewriting an uploaded PDF without anything that acts: scripts, actions, embedded files, forms, multimedia.

A proof material is read by staff, on office computers, in whatever PDF reader opens it. What a reader may do on its
own — run JavaScript on opening (/OpenAction), on a page or a field (/AA), launch a program, submit a form, open an
embedded file or a link — is removed; what is drawn stays. The file is parsed and written again by qpdf (through
pikepdf), so only objects still reachable from the document are kept, and bytes outside them (a second file
appended after %%EOF, an unreferenced object holding a script) are gone too.

Forms and annotations are first flattened into the page, so a filled-in form keeps its visible values; then every
annotation, the form, the outline (whose entries may carry actions) and every action-bearing key left anywhere are
removed.
"""

from io import BytesIO

import pikepdf
from pikepdf import Dictionary, Name, Pdf, Stream

# Keys of the document catalog that make a reader act, open something, or hold files or scripts.
CATALOG_KEYS = ("/OpenAction", "/AA", "/AcroForm", "/Outlines", "/Collection", "/Perms", "/Threads", "/URI")
# Entries of the catalog's name tree holding scripts, files or things a reader may open.
NAME_TREES = ("/JavaScript", "/EmbeddedFiles", "/AlternatePresentations", "/Renditions")
# Keys that hold an action, a script or an embedded file wherever they appear.
ACTING_KEYS = frozenset({"/OpenAction", "/AA", "/A", "/JS", "/JavaScript", "/EmbeddedFiles", "/EF", "/EmbeddedFile",
                         "/AcroForm", "/Launch", "/RichMediaContent", "/RichMediaSettings", "/Next"})


class UnsafePdf(Exception):
    """The file cannot be read as a PDF, or is encrypted."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "damaged" or "encrypted"


def sanitised(data: bytes) -> bytes:
    """Return the PDF written again without scripts, actions, embedded files, forms or annotations.

    Raises UnsafePdf("encrypted") for a password-protected file and UnsafePdf("damaged") for one that cannot be
    read.
    """
    try:
        with Pdf.open(BytesIO(data)) as pdf:
            if pdf.is_encrypted:
                raise UnsafePdf("encrypted")
            _flatten(pdf)
            _strip_catalog(pdf)
            for page in pdf.pages:
                for key in ("/Annots", "/AA"):
                    if key in page.obj:
                        del page.obj[key]
            _strip_everywhere(pdf)
            out = BytesIO()
            pdf.save(out, fix_metadata_version=False)
            return out.getvalue()
    except pikepdf.PasswordError:
        raise UnsafePdf("encrypted") from None
    except (pikepdf.PikepdfError, ValueError, TypeError, KeyError, RecursionError):
        # qpdf's ways of saying the structure cannot be followed: bad xref, broken streams, loops.
        raise UnsafePdf("damaged") from None


def _flatten(pdf: Pdf) -> None:
    """Draw form fields and annotations into the page content, so removing them loses nothing visible."""
    if "/AcroForm" in pdf.Root:
        pdf.generate_appearance_streams()
    pdf.flatten_annotations("all")


def _strip_catalog(pdf: Pdf) -> None:
    root = pdf.Root
    for key in CATALOG_KEYS:
        if key in root:
            del root[key]
    names = root.get("/Names")
    if isinstance(names, Dictionary):
        for key in NAME_TREES:
            if key in names:
                del names[key]


def _strip_everywhere(pdf: Pdf) -> None:
    """Remove acting keys from every object still in the file, wherever a writer hid them."""
    for obj in pdf.objects:
        if isinstance(obj, Dictionary | Stream):
            _strip(obj.stream_dict if isinstance(obj, Stream) else obj)


def _strip(dictionary: Dictionary) -> None:
    for key in list(dictionary.keys()):
        if key in ACTING_KEYS:
            del dictionary[key]
    if dictionary.get("/S") in {Name.JavaScript, Name.Launch, Name.SubmitForm, Name.ImportData}:
        for key in list(dictionary.keys()):
            del dictionary[key]
