"""Work records: activities, notes, files, call logs, mail threads and messages, projects and tasks."""

from __future__ import annotations

from ..store import fmt
from .base import DAY, SeedContext

FOLDERS = ("inbox", "drafts", "sent", "archive")


def activities(s: SeedContext) -> None:
    table, rng = s.store.tables["activities"], s.rng
    sizes = s.sizes
    for aid in range(1, sizes["activities"] + 1):
        _add, upd, add_s, upd_s = s.times(table, null_update=0.01)
        done = rng.random() < 0.5
        person = s.ri(1, sizes["persons"]) if rng.random() < 0.7 else None
        kind = rng.choice(("call", "meeting", "task", "email"))
        data = {
            "id": aid, "subject": f"{kind.capitalize()}: {rng.choice(s.pools['words'])}", "type": kind,
            "owner_id": s.user_id(), "creator_user_id": s.user_id(), "is_deleted": False,
            "add_time": add_s, "update_time": upd_s,
            "deal_id": s.ri(1, sizes["deals"]) if rng.random() < 0.6 else None, "lead_id": None,
            "person_id": person, "org_id": s.ri(1, sizes["organizations"]) if rng.random() < 0.5
            else None, "project_id": None, "due_date": rng.choice(s.pools["dates"]),
            "due_time": f"{s.ri(8, 17):02d}:00", "duration": "00:30", "busy": True, "done": done,
            "marked_as_done_time": upd_s if done else None, "location": None,
            "participants": [] if person is None else [{"person_id": person, "primary": True}],
            "attendees": [], "conference_meeting_client": None, "conference_meeting_url": None,
            "conference_meeting_id": None, "public_description": "", "priority": None,
            "note": rng.choice(s.pools["sentences"]),
        }
        s.put("activities", data, upd)


def notes(s: SeedContext) -> None:
    table, rng = s.store.tables["notes"], s.rng
    for nid in range(1, s.sizes["notes"] + 1):
        _add, upd, add_s, upd_s = s.times(table, null_update=0.02)
        deal = s.ri(1, s.sizes["deals"]) if rng.random() < 0.6 else None
        person = None if deal else s.ri(1, s.sizes["persons"])
        data = {
            "id": nid, "active_flag": True, "add_time": add_s, "content": rng.choice(s.pools["sentences"]),
            "deal_id": deal, "lead_id": None, "last_update_user_id": s.user_id(), "org_id": None,
            "person_id": person, "project_id": None, "task_id": None, "pinned_to_deal_flag": False,
            "pinned_to_organization_flag": False, "pinned_to_person_flag": False,
            "pinned_to_project_flag": False, "pinned_to_task_flag": False, "update_time": upd_s,
            "user_id": s.user_id(),
        }
        s.put("notes", data, upd)


def files(s: SeedContext) -> None:
    table, rng = s.store.tables["files"], s.rng
    for fid in range(1, s.sizes["files"] + 1):
        _add, upd, add_s, upd_s = s.times(table)
        name = f"{rng.choice(s.pools['words'])}-{fid}.pdf"
        deal = s.ri(1, s.sizes["deals"])
        data = {
            "id": fid, "user_id": s.user_id(), "deal_id": deal, "person_id": None, "org_id": None,
            "product_id": None, "activity_id": None, "lead_id": None, "project_id": None,
            "add_time": add_s, "update_time": upd_s, "file_name": name, "file_size": s.ri(1000, 9000000),
            "active_flag": True, "inline_flag": False, "remote_location": "s3", "remote_id": f"r{fid}",
            "cid": "", "mail_message_id": "", "mail_template_id": "", "deal_name": f"Deal {deal}",
            "person_name": "", "org_name": "", "product_name": "", "lead_name": "", "project_name": "",
            "url": f"https://files.example.com/{fid}", "name": name,
        }
        s.put("files", data, upd)


def call_logs(s: SeedContext) -> None:
    rng = s.rng
    for index in range(s.sizes["call_logs"]):
        start = s.now - s.ri(DAY, 200 * DAY)
        s.put("call_logs", {
            "id": f"{rng.getrandbits(64):016x}", "user_id": s.user_id(), "activity_id": None,
            "subject": f"Call {index + 1}", "duration": str(s.ri(10, 1800)),
            "outcome": rng.choice(("connected", "no_answer", "left_message", "busy")),
            "from_phone_number": rng.choice(s.pools["phones"]),
            "to_phone_number": rng.choice(s.pools["phones"]),
            "start_time": fmt("iso", start), "end_time": fmt("iso", start + 300),
            "person_id": s.ri(1, s.sizes["persons"]), "org_id": None, "deal_id": None, "lead_id": None,
            "note": "", "has_recording": False, "company_id": 1}, None)


def mail(s: SeedContext) -> None:
    threads, rng = s.store.tables["mail_threads"], s.rng
    msg_id = 1
    for tid in range(1, s.sizes["mail_threads"] + 1):
        folder = FOLDERS[tid % len(FOLDERS)]
        _add, upd, add_s, upd_s = s.times(threads)
        deal = s.ri(1, s.sizes["deals"]) if rng.random() < 0.5 else None
        base = {"account_id": "acc-1", "user_id": 1, "subject": f"Re: {rng.choice(s.pools['words'])}",
                "snippet": rng.choice(s.pools["sentences"]), "read_flag": 1, "mail_tracking_status": None,
                "has_attachments_flag": 0, "has_inline_attachments_flag": 0, "has_real_attachments_flag": 0,
                "deleted_flag": 0, "synced_flag": 1, "smart_bcc_flag": 0, "mail_link_tracking_enabled_flag": 0}
        thread = dict(base, id=tid, parties={"to": [], "from": []}, drafts_parties=[], folders=[folder],
                      version=1, snippet_draft=None, snippet_sent="", message_count=2,
                      has_draft_flag=int(folder == "drafts"), has_sent_flag=int(folder == "sent"),
                      archived_flag=int(folder == "archive"), shared_flag=0, external_deleted_flag=0,
                      first_message_to_me_flag=1, last_message_timestamp=upd_s, first_message_timestamp=add_s,
                      last_message_sent_timestamp=None, last_message_received_timestamp=upd_s,
                      add_time=add_s, update_time=upd_s, deal_id=deal, deal_status=None, lead_id=None,
                      all_messages_sent_flag=0)
        s.put("mail_threads", thread, upd)
        for offset in range(2):
            message = dict(base, id=msg_id, mail_thread_id=tid, to=[], cc=[], bcc=[],
                           body_url=f"https://mail.example.com/{msg_id}", draft=None, has_body_flag=1,
                           sent_flag=int(folder == "sent"), sent_from_pipedrive_flag=0,
                           message_time=add_s if offset == 0 else upd_s, add_time=add_s, update_time=upd_s)
            message["from"] = [{"email_address": "someone@example.com", "name": "Someone"}]
            s.put("mail_thread_messages", message, upd, parent=tid)
            if deal is not None:
                s.put("deal_mail_messages", {"object": "mailMessage", "timestamp": fmt("v1", _add),
                                                 "data": message, "id": msg_id}, upd, parent=deal)
            msg_id += 1
    for name, parent_size in (("person_mail_messages", "persons"), ("organization_mail_messages",
                                                                    "organizations")):
        for parent in range(1, min(s.sizes[parent_size], 20) + 1):
            s.put(name, {"object": "mailMessage", "timestamp": fmt("v1", s.now - parent * DAY),
                             "data": {"id": msg_id, "subject": "Hello", "mail_thread_id": 1}, "id": msg_id},
                      None, parent=parent)
            msg_id += 1


def projects(s: SeedContext) -> None:
    table, rng = s.store.tables["projects"], s.rng
    for pid in range(1, s.sizes["projects"] + 1):
        _add, upd, add_s, upd_s = s.times(table)
        s.put("projects", {
            "id": pid, "title": f"Onboarding {rng.choice(s.pools['companies'])}", "status": "open",
            "board_id": 1, "phase_id": 1 + pid % 3, "owner_id": s.user_id(),
            "start_date": rng.choice(s.pools["dates"]), "end_date": None,
            "deal_ids": [s.ri(1, s.sizes["deals"])], "person_ids": [], "org_ids": [], "label_ids": [],
            "health_status": None, "add_time": add_s, "update_time": upd_s, "status_change_time": add_s,
            "archive_time": None, "custom_fields": {}}, upd)
    tasks = s.store.tables["tasks"]
    for tid in range(1, s.sizes["tasks"] + 1):
        _add, upd, add_s, upd_s = s.times(tasks)
        done = rng.random() < 0.4
        s.put("tasks", {
            "id": tid, "title": f"Task {tid}: {rng.choice(s.pools['words'])}", "creator_id": 1,
            "project_id": s.ri(1, s.sizes["projects"]), "is_done": done, "is_milestone": False,
            "due_date": None, "start_date": None, "parent_task_id": None, "assignee_ids": [s.user_id()],
            "priority": None, "add_time": add_s, "update_time": upd_s,
            "marked_as_done_time": upd_s if done else None}, upd)


def file_contents(s: SeedContext) -> None:
    """The bytes ``GET /v1/files/{id}/download`` serves; ``file_size`` is set to their length."""
    files = s.store.tables["files"]
    for row in files:
        body = _document(row.data["file_name"], s.extra_int(200, 4000), s.extra.getrandbits(64))
        s.store.set_content(row.key, body)
        row.data["file_size"] = len(body)


def _document(name: str, size: int, salt: int) -> bytes:
    """A small, reproducible PDF-looking document of about ``size`` bytes."""
    head = f"%PDF-1.4\n% {name} {salt:016x}\n".encode()
    filler = (f"{salt:016x}" * (size // 16 + 1)).encode()
    return head + filler[: max(0, size - len(head))] + b"\n%%EOF\n"
