"""Process administration forms: a diagram upload, a reason for an action on a case, an assignment rule."""

from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from forms.base import BaseForm, normalized


class DiagramUploadForm(BaseForm):
    """A BPMN file as exported from Camunda Modeler or bpmn.io."""

    diagram = FileField("流程图文件（.bpmn）", validators=[FileRequired("请选择要上传的 .bpmn 文件")])


class ReasonForm(BaseForm):
    """Why an administrator acts on a case (suspend, cancel, move); the target step when moving."""

    reason = StringField("原因", filters=[normalized], validators=[Length(max=200, message="原因不超过 200 字")])
    target = StringField("移回到的步骤", filters=[normalized])


class AssignmentForm(BaseForm):
    """A lane or group name used in diagrams, and the staff role and jurisdiction field its tasks go to."""

    name = StringField("泳道或候选组名称", filters=[normalized], validators=[
        DataRequired("请填写泳道或候选组名称"), Length(max=100, message="名称不超过 100 字")])
    role = SelectField("办理角色", validate_choice=False, validators=[DataRequired("请选择角色")])
    jurisdiction_field = SelectField("辖区字段", validate_choice=False)
