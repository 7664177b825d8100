"""Parse diagram XML as untrusted input: no DTDs, no entities, no network, a size cap."""

from lxml import etree

from engine.errors import DiagramRejected

MAX_DIAGRAM_BYTES = 2 * 1024 * 1024


def parse_untrusted_xml(data: bytes, max_bytes: int = MAX_DIAGRAM_BYTES) -> etree._Element:
    """Return the root of `data`, refusing oversize files, DOCTYPEs (XXE, billion laughs) and bad XML."""
    if len(data) > max_bytes:
        raise DiagramRejected([f"文件过大：{len(data):,} 字节，上限 {max_bytes:,} 字节"])
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
        remove_comments=True, remove_pis=True,
    )
    try:
        tree = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise DiagramRejected([f"XML 格式错误：{exc}"]) from exc
    # A DOCTYPE has no business in BPMN; refusing it outright closes every entity trick at once.
    if tree.getroottree().docinfo.internalDTD is not None or tree.getroottree().docinfo.doctype:
        raise DiagramRejected(["不允许 DOCTYPE/实体声明（可能是 XXE 或实体膨胀攻击）"])
    return tree
