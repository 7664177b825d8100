"""What the portal shows besides the generated guide: announcements, policies, downloads, FAQ and guide text.

Pages read these through `content_source()`, one small interface; the static source below serves until a content
management system is plugged in as `app.extensions["portal_content"]`. It publishes nothing it does not have: no
announcement, policy or download is invented, so those sections say 暂无 until real content exists.
"""

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from flask import current_app


@dataclass(frozen=True)
class Item:
    """A published piece of content as a list shows it."""

    title: str
    url: str
    published: date | None = None


@dataclass(frozen=True)
class Question:
    """One entry of 常见问题."""

    question: str
    answer: str


@dataclass(frozen=True)
class GuideText:
    """The written part of a type's 办事指南, around what the diagram says: who applies, and what to know."""

    applies_to: str
    notes: tuple[str, ...] = field(default_factory=tuple)


class ContentSource(Protocol):
    """Where the portal's content comes from."""

    def announcements(self, limit: int) -> list[Item]:
        """Return the newest 通知公告, at most `limit`."""

    def policies(self, limit: int) -> list[Item]:
        """Return the newest 政策法规, at most `limit`."""

    def downloads(self) -> list[Item]:
        """Return the forms to download (表格下载)."""

    def questions(self) -> list[Question]:
        """Return 常见问题."""

    def guide_text(self, case_type: str) -> GuideText:
        """Return the written part of a case type's guide."""


COMMON_NOTES = (
    "申请人对所填信息和所交材料的真实性负责；信息不实的，不予登记，已登记的予以撤销。",
    "材料缺少或信息有误的，将一次性告知需要更正的全部内容，请按通知更正后重新提交。",
    "办理结果以短信通知，也可登录后在「我的申请」或通过「进度查询」查看。",
)
GUIDE_TEXTS = {
    "first_child": GuideText("夫妻尚无共同生育的子女，在孕前、孕期办理第一个子女的生育登记；子女出生后也可补办。",
                             COMMON_NOTES),
    "second_child": GuideText("夫妻已共同生育一个子女，办理第二个子女的生育登记；子女出生后也可补办。", COMMON_NOTES),
    "third_child": GuideText("夫妻已共同生育两个子女，办理第三个子女的生育手续。", COMMON_NOTES),
}
QUESTIONS = (
    Question("在哪里办理？",
             "可在本网站网上办理，由夫妻一方户籍地或现居住地的村（居）核实、乡镇（街道）审核；"
             "也可到乡镇（街道）卫生健康办公室办理，村（居）卫生健康工作人员可以代为申请。"),
    Question("需要准备哪些材料？",
             "夫妻双方身份证、户口本、结婚证和近期免冠合影；再婚的另需再婚相关证明和生育情况证明，"
             "子女已出生的需出生医学证明。各类型的完整材料清单见办事指南，网上申请时拍照上传即可。"),
    Question("办理要收费吗？", "生育登记不收取任何费用。"),
    Question("多久能办好？",
             "网上提交后，村（居）核实、乡镇（街道）审核，各环节的办理时限见办事指南；结果以短信通知。"),
    Question("核实发现信息有误怎么办？",
             "短信和「我的申请」中会列出需要更正的内容，请按要求更正后重新提交，无需重新填写全部信息。"),
    Question("登记成功后怎样取得登记单？",
             "登录后在「我的申请」中下载打印《生育服务登记单》，也可以到街道服务大厅打印。"),
    Question("怎样查询办理进度？", "登录后查看「我的申请」，或在「进度查询」中输入受理编号查询。"),
)


class StaticContent:
    """The content shipped with the code: FAQ entries and guide text, and no announcements, policies or downloads."""

    def announcements(self, limit: int) -> list[Item]:  # noqa: ARG002 - nothing is published yet
        """Return no announcement: none is published yet."""
        return []

    def policies(self, limit: int) -> list[Item]:  # noqa: ARG002 - nothing is published yet
        """Return no policy: none is published yet."""
        return []

    def downloads(self) -> list[Item]:
        """Return no form: the guide lists what to prepare until forms are generated."""
        return []

    def questions(self) -> list[Question]:
        """Return the shipped FAQ entries."""
        return list(QUESTIONS)

    def guide_text(self, case_type: str) -> GuideText:
        """Return the shipped text of a type's guide."""
        return GUIDE_TEXTS.get(case_type, GuideText("", COMMON_NOTES))


STATIC_CONTENT = StaticContent()


def content_source() -> ContentSource:
    """Return the app's content source: a content management system once registered, else the static content."""
    return current_app.extensions.get("portal_content", STATIC_CONTENT)
