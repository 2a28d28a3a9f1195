"""The console over HTTP: sign-in, sessions, CSRF, escaping, actions and their refusals."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx

from leaseq.app.container import build_container
from tests.console.conftest import csrf_of, dead_task, enqueue, sign_in
from tests.contract.http_fixtures import ADMIN, running_app, settings_for


async def test_a_page_without_a_session_redirects_to_sign_in_and_back(api):
    answer = await api.get("/console/tasks?state=dead")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=%2Fconsole%2Ftasks%3Fstate%3Ddead"


async def test_a_bearer_header_is_not_a_console_session(api):
    assert (await api.get("/console/queues", headers=ADMIN)).status_code == 303


async def test_the_live_feed_without_a_session_answers_401_problem(api):
    answer = await api.get("/console/api/queues")
    assert answer.status_code == 401
    assert answer.json()["type"] == "unauthorized"


async def test_signing_in_sets_an_httponly_strict_cookie_that_does_not_hold_the_token(api):
    answer = await sign_in(api)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/tasks"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "admin-secret" not in cookie
    assert "Secure" not in cookie  # plain http here; https sets Secure
    assert (await api.get("/console/queues")).status_code == 200


async def test_over_https_the_session_cookie_is_secure(api):
    secure = httpx.AsyncClient(transport=api._transport, base_url="https://localhost")
    async with secure:
        answer = await sign_in(secure)
    assert "Secure" in answer.headers["set-cookie"]


async def test_a_token_without_the_admin_scope_cannot_sign_in(api):
    answer = await sign_in(api, "work-secret")
    assert answer.status_code == 403 and "lacks the admin scope" in answer.text
    assert "set-cookie" not in answer.headers
    assert (await sign_in(api, "not-a-token")).status_code == 401


async def test_a_tampered_or_absurd_session_cookie_redirects_to_sign_in(api):
    await sign_in(api)
    value = api.cookies["leaseq_console"]
    payload, issued, signature = value.split(".")
    tampered = [
        f"{payload}.{issued[:-1]}{'A' if issued[-1] != 'A' else 'B'}.{signature}",
        f"{payload}.{'9' * 40}.{signature}",  # a huge timestamp
        f"{payload}x.{issued}.{signature}",
        f"{payload}.{issued}.{signature[:-2]}",
        "9" * 4000,
        "a.b.c",
        "%C3%A9t%C3%A9\\x00",
        "",
    ]
    for cookie in tampered:
        api.cookies.clear()
        api.cookies.set("leaseq_console", cookie)
        answer = await api.get("/console/queues")
        assert answer.status_code == 303, (cookie, answer.text)
        assert answer.headers["location"].startswith("/console/sign-in")
    api.cookies.clear()
    api.cookies.set("leaseq_console", value)
    assert (await api.get("/console/queues")).status_code == 200


async def test_removing_the_admin_token_ends_the_sessions_it_opened(api):
    await sign_in(api)
    cookie = api.cookies["leaseq_console"]
    rotated = settings_for("memory", None, tokens="other-secret:admin")
    async with running_app(build_container(rotated)) as (_app, other):
        other.cookies.set("leaseq_console", cookie)
        assert (await other.get("/console/queues")).status_code == 303


async def test_the_next_page_after_sign_in_stays_on_the_console(api):
    for target in ("https://evil.example/", "//evil.example/console/", "/v1/tasks"):
        answer = await api.post("/console/sign-in", data={"token": "admin-secret", "next": target})
        assert answer.headers["location"] == "/console/queues"


async def test_an_action_without_the_csrf_token_is_refused_and_changes_nothing(api):
    task_id = await enqueue(api)
    await sign_in(api)
    form = {"action": "cancel", "task": task_id, "csrf": "forged"}
    answer = await api.post("/console/actions/apply", data=form)
    assert answer.status_code == 403
    assert (await api.get(f"/v1/tasks/{task_id}", headers=ADMIN)).json()["state"] == "pending"


async def test_an_action_from_another_origin_is_refused_even_with_the_csrf_token(api):
    task_id = await enqueue(api)
    await sign_in(api)
    form = {"action": "cancel", "task": task_id, "csrf": await csrf_of(api)}
    answer = await api.post(
        "/console/actions/apply", data=form, headers={"Origin": "https://evil.example"}
    )
    assert answer.status_code == 403
    assert (await api.get(f"/v1/tasks/{task_id}", headers=ADMIN)).json()["state"] == "pending"


async def test_the_csrf_token_of_one_session_does_not_work_in_another(api):
    await sign_in(api)
    first = await csrf_of(api)
    api.cookies.clear()
    await sign_in(api)
    assert await csrf_of(api) != first


async def test_a_script_in_payload_labels_and_error_is_shown_escaped(api):
    script = "<script>alert('x')</script>"
    task_id = await dead_task(
        api, error=f"failed: {script}", payload={"html": script}, labels={"note": script}
    )
    await sign_in(api)
    page = await api.get(f"/console/tasks/{task_id}")
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert page.text.count("&lt;script&gt;alert(") >= 3  # payload, label and last error
    assert "default-src 'none'" in page.headers["content-security-policy"]


async def test_the_task_page_shows_the_live_lease_but_never_its_token(api):
    task_id = await enqueue(api, queue="held")
    leases = await api.post(
        "/v1/leases",
        json={"queue": "held", "worker_id": "worker-7", "lease_seconds": 300},
        headers=ADMIN,
    )
    token = leases.json()["leases"][0]["token"]
    await sign_in(api)
    page = (await api.get(f"/console/tasks/{task_id}")).text
    assert "worker-7" in page and "Time left" in page
    assert token not in page


async def test_bulk_requeue_requeues_dead_tasks_and_reports_the_refusal_of_a_pending_one(api):
    dead = [await dead_task(api), await dead_task(api)]
    pending = await enqueue(api)
    await sign_in(api)
    form = {"action": "requeue", "task": [*dead, pending], "csrf": await csrf_of(api)}
    confirm = await api.post("/console/actions/confirm", data=form)
    assert confirm.status_code == 200 and "Requeue 3 tasks?" in confirm.text
    answer = await api.post("/console/actions/apply", data={**form, "back": "/console/dead"})
    assert answer.status_code == 200
    assert "2 done, 1 refused" in answer.text and "invalid_transition" in answer.text
    for task_id in dead:
        got = await api.get(f"/v1/tasks/{task_id}", headers=ADMIN)
        assert got.json()["state"] == "pending"


async def test_an_action_with_no_task_selected_explains_what_is_missing(api):
    await sign_in(api)
    form = {"action": "cancel", "csrf": await csrf_of(api)}
    answer = await api.post("/console/actions/confirm", data=form)
    assert answer.status_code == 422 and "Select at least one task" in answer.text


async def test_the_task_list_filters_by_state_and_pages_by_cursor(api):
    ids = [await enqueue(api, queue="paged") for _ in range(55)]
    await dead_task(api)
    await sign_in(api)
    first = await api.get("/console/tasks?queue=paged&state=pending")
    assert first.text.count('name="task" value=') == 50
    assert ids[0] in first.text and ids[50] not in first.text
    assert 'rel="next"' in first.text
    next_link = first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = await api.get(next_link.replace("&amp;", "&"))
    assert second.text.count('name="task" value=') == 5 and ids[54] in second.text
    assert (await api.get("/console/tasks?state=bogus")).status_code == 422


async def test_sign_out_ends_the_session_in_the_browser(api):
    await sign_in(api)
    answer = await api.post("/console/sign-out", data={"csrf": await csrf_of(api)})
    assert answer.status_code == 303 and 'leaseq_console=""' in answer.headers["set-cookie"]
    assert (await api.get("/console/queues")).status_code == 303


async def test_with_authentication_off_pages_need_no_sign_in_but_actions_need_csrf():
    settings = settings_for("memory", None, tokens=None)
    async with running_app(build_container(settings)) as (_app, client):
        task_id = await enqueue(client)
        assert (await client.get("/console/sign-in")).status_code == 303
        page = await client.get("/console/queues")
        assert page.status_code == 200 and "Authentication is off" in page.text
        refused = await client.post(
            "/console/actions/apply", data={"action": "cancel", "task": task_id}
        )
        assert refused.status_code == 403
        form = {
            "action": "cancel",
            "task": task_id,
            "csrf": await csrf_of(client, "/console/tasks"),
        }
        done = await client.post("/console/actions/apply", data=form)
        assert done.status_code == 200 and "1 done, 0 refused" in done.text


async def test_the_console_is_not_part_of_the_api_schema(api):
    schema = (await api.get("/openapi.json")).json()
    assert not [path for path in schema["paths"] if path.startswith("/console")]


async def test_static_files_are_served(api):
    answer = await api.get("/console/static/console.css")
    assert answer.status_code == 200 and "focus-visible" in answer.text


async def test_the_task_page_lists_its_transitions_oldest_first(api):
    task_id = await dead_task(api, error="SMTP 550")
    await sign_in(api)
    page = (await api.get(f"/console/tasks/{task_id}")).text
    history = page.split('id="history"')[1]
    assert history.index("enqueued") < history.index("leased") < history.index("failed")
    assert "w-1" in history and "SMTP 550" in history


class Markup(HTMLParser):
    """Collects what the accessibility checks look at."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


async def test_every_page_has_landmarks_scoped_headers_and_labelled_fields(api):
    task_id = await dead_task(api, labels={"k": "v"})
    await sign_in(api)
    for path in ("/console/queues", "/console/tasks", "/console/dead", f"/console/tasks/{task_id}"):
        markup = Markup()
        markup.feed((await api.get(path)).text)
        tags = markup.tags
        names = [tag for tag, _ in tags]
        assert {"header", "nav", "main", "footer", "h1"} <= set(names), path
        assert ("html", {"lang": "en"}) in tags
        assert all(attrs.get("scope") in ("col", "row") for tag, attrs in tags if tag == "th"), path
        labelled = {attrs.get("for") for tag, attrs in tags if tag == "label"}
        for tag, attrs in tags:
            if tag in ("input", "select") and attrs.get("type") != "hidden":
                assert attrs.get("id") in labelled or attrs.get("aria-label"), (path, attrs)
