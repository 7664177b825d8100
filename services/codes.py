"""National code lists used on forms and in statistics: GB/T 3304 民族, GB/T 2261.1 性别, GB/T 2261.2 婚姻状况."""

ETHNICITIES = {
    "01": "汉族", "02": "蒙古族", "03": "回族", "04": "藏族", "05": "维吾尔族", "06": "苗族", "07": "彝族",
    "08": "壮族", "09": "布依族", "10": "朝鲜族", "11": "满族", "12": "侗族", "13": "瑶族", "14": "白族",
    "15": "土家族", "16": "哈尼族", "17": "哈萨克族", "18": "傣族", "19": "黎族", "20": "傈僳族", "21": "佤族",
    "22": "畲族", "23": "高山族", "24": "拉祜族", "25": "水族", "26": "东乡族", "27": "纳西族", "28": "景颇族",
    "29": "柯尔克孜族", "30": "土族", "31": "达斡尔族", "32": "仫佬族", "33": "羌族", "34": "布朗族",
    "35": "撒拉族", "36": "毛南族", "37": "仡佬族", "38": "锡伯族", "39": "阿昌族", "40": "普米族",
    "41": "塔吉克族", "42": "怒族", "43": "乌孜别克族", "44": "俄罗斯族", "45": "鄂温克族", "46": "德昂族",
    "47": "保安族", "48": "裕固族", "49": "京族", "50": "塔塔尔族", "51": "独龙族", "52": "鄂伦春族",
    "53": "赫哲族", "54": "门巴族", "55": "珞巴族", "56": "基诺族",
}

MALE, FEMALE = "1", "2"
SEXES = {MALE: "男", FEMALE: "女"}

# The codes a couple applying for registration can have (未婚 10 and 未说明 90 are left out: a couple is married).
FIRST_MARRIAGE, REMARRIAGE, REUNION = "21", "22", "23"
MARITAL_STATUSES = {FIRST_MARRIAGE: "初婚", REMARRIAGE: "再婚", REUNION: "复婚"}

# How an existing child is related to the couple; only 亲生 children of both count towards parity (孩次).
CHILD_RELATIONS = {
    "both": "夫妻双方亲生",
    "father": "男方亲生（与前配偶所生）",
    "mother": "女方亲生（与前配偶所生）",
    "adopted": "收养",
}
SHARED_CHILD = "both"
