"""The portal's home page, site map, footer and 长辈模式 switch, as a visitor sees them."""

import re

from processes import definitions_admin as admin
from webapp.portal.content import STATIC_CONTENT, Item

HOME_SECTIONS = ("在线办理", "办事指南", "表格下载", "政策法规", "通知公告", "常见问题", "进度查询", "咨询服务")


def section(html: str, section_id: str) -> str:
    """Return the HTML of the home page's section with this id."""
    found = re.search(rf'<section id="{section_id}".*?</section>', html, re.S)
    assert found, f"no section #{section_id}"
    return found.group(0)


def test_the_home_page_offers_each_type_with_an_active_process_and_its_guide(client, deployed):  # noqa: ARG001
    home = client.get("/")
    assert home.status_code == 200
    for name in HOME_SECTIONS:
        assert name in home.text
    online = section(home.text, "online")
    for case_type, label in (("first_child", "一孩登记"), ("second_child", "二孩登记"), ("third_child", "三孩审批")):
        assert label in online
        assert f'href="/guide/{case_type}"' in online
    assert online.count('href="/apply"') == 3, "each type links to the application"
    assert "办理时限 5个工作日" in online, "the limit comes from the diagram's timers"
    assert "办理时限 7个工作日" in online


def test_a_type_without_an_active_process_is_not_offered(session, client, deployed):
    assert admin.current(session, "third_child_approval") is not None
    deployed["third_child_approval"].active = False  # as if retired, with no other process taking the type
    session.commit()
    online = section(client.get("/").text, "online")
    assert "三孩审批" not in online
    assert 'href="/guide/third_child"' not in online
    assert "一孩登记" in online


def test_with_no_process_deployed_the_home_page_says_nothing_is_offered(client):
    online = section(client.get("/").text, "online")
    assert "目前暂不受理网上申请" in online
    assert "/guide/" not in online


def test_sections_without_content_say_so_and_invent_nothing(client, deployed):  # noqa: ARG001
    home = client.get("/").text
    for section_id in ("policies", "announcements"):
        assert "暂无" in section(home, section_id)
        assert "<li>" not in section(home, section_id)
    assert "暂无可下载的表格" in section(home, "downloads")
    questions = section(home, "questions")
    assert questions.count("<details") >= 5
    assert "不收取任何费用" in questions


def test_a_content_source_fills_the_sections(app, client, deployed):  # noqa: ARG001
    class Published(type(STATIC_CONTENT)):
        def announcements(self, limit):
            return [Item("关于春节期间暂停现场办理的通知", "/notices/1")][:limit]

    app.extensions["portal_content"] = Published()
    try:
        announcements = section(client.get("/").text, "announcements")
    finally:
        del app.extensions["portal_content"]
    assert '<a href="/notices/1">关于春节期间暂停现场办理的通知</a>' in announcements
    assert "暂无" not in announcements


def test_the_footer_shows_the_office_from_settings_on_every_page(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PORTAL_SPONSOR", "东城区卫生健康委员会")
    monkeypatch.setitem(app.config, "PORTAL_PHONE", "010-12345678")
    monkeypatch.setitem(app.config, "PORTAL_ICP", "京ICP备12345678号")
    monkeypatch.setitem(app.config, "PORTAL_EMAIL", "")
    for url in ("/", "/auth/login", "/sitemap", "/no-such-page"):
        footer = re.search(r"<footer.*?</footer>", client.get(url).text, re.S).group(0)
        assert "主办单位：东城区卫生健康委员会" in footer, url
        assert "010-12345678" in footer
        assert "京ICP备12345678号" in footer
        assert 'href="/privacy"' in footer
        assert 'href="/sitemap"' in footer
        assert "电子邮箱" not in footer, "an empty setting is not shown"


def test_the_site_map_lists_the_public_pages_and_the_offered_guides(client, deployed):  # noqa: ARG001
    page = client.get("/sitemap")
    assert page.status_code == 200
    for href in ('href="/"', 'href="/guide/first_child"', 'href="/guide/third_child"', 'href="/track"',
                 'href="/privacy"', 'href="/auth/login"', 'href="/auth/register"'):
        assert href in page.text


def test_elder_mode_is_a_persistent_switch_without_script(client):
    assert 'class="elder"' not in client.get("/").text
    switch = client.get("/display/elder?next=/sitemap")
    assert switch.status_code == 303
    assert switch.location == "/sitemap"
    assert "display_mode=elder" in switch.headers["Set-Cookie"]
    for url in ("/", "/sitemap", "/auth/login"):
        page = client.get(url).text
        assert '<body class="elder">' in page, url
        assert "退出长辈模式" in page
    back = client.get("/display/standard?next=/")
    assert back.location == "/"
    assert '<body class="elder">' not in client.get("/").text


def test_the_switch_goes_back_only_to_this_site_and_knows_its_modes(client):
    assert client.get("/display/elder?next=//evil.example/").location == "/"
    assert client.get("/display/elder?next=https://evil.example/").location == "/"
    assert client.get("/display/huge").status_code == 404


def test_every_page_has_a_skip_link_and_landmarks(client, deployed):  # noqa: ARG001
    for url in ("/", "/guide/first_child", "/sitemap"):
        page = client.get(url).text
        assert page.index('class="skip-link" href="#main"') < page.index("<header"), "the skip link comes first"
        assert '<main id="main"' in page
        for landmark in ("<header", "<nav", "<footer"):
            assert landmark in page, (url, landmark)
