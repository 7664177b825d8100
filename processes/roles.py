"""Roles a user or a task can have. Lanes may name a role by its key or by its Chinese label."""

CITIZEN = "citizen"
VILLAGE_STAFF = "village_staff"
TOWNSHIP_STAFF = "township_staff"
SERVICE_HALL = "service_hall"
COUNTY_OFFICIAL = "county_official"
CITY_OFFICIAL = "city_official"
PROVINCE_OFFICIAL = "province_official"
POLICY_ADMIN = "policy_admin"
SYSTEM_ADMIN = "system_admin"

ROLES = {
    CITIZEN: "申请人",
    VILLAGE_STAFF: "村（居）工作人员",
    TOWNSHIP_STAFF: "乡镇（街道）工作人员",
    SERVICE_HALL: "街道服务大厅",
    COUNTY_OFFICIAL: "县级卫生健康部门",
    CITY_OFFICIAL: "市级卫生健康部门",
    PROVINCE_OFFICIAL: "省级卫生健康部门",
    POLICY_ADMIN: "流程管理员",
    SYSTEM_ADMIN: "系统管理员",
}

STAFF_ROLES = tuple(role for role in ROLES if role != CITIZEN)

# The division level (code length) a staff member of each role is attached to.
ROLE_DIVISION_LENGTH = {
    VILLAGE_STAFF: 12, TOWNSHIP_STAFF: 9, SERVICE_HALL: 9, COUNTY_OFFICIAL: 6, CITY_OFFICIAL: 4,
    PROVINCE_OFFICIAL: 2,
}
