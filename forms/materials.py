"""Proof material forms: one file of one kind per upload; a deletion carries only its CSRF token."""

from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField
from wtforms.validators import AnyOf, DataRequired

from forms.base import BaseForm
from services.materials import KINDS


class UploadForm(BaseForm):
    """Upload one file as a material of one kind (what the file is, is checked by services.uploads)."""

    kind = HiddenField(validators=[DataRequired(message="请选择要上传的材料类别"),
                                   AnyOf(list(KINDS), message="请选择要上传的材料类别")])
    file = FileField("选择文件", validators=[FileRequired(message="请先选择要上传的文件")])


class DeleteForm(BaseForm):
    """Delete one uploaded material."""
