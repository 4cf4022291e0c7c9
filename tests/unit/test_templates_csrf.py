"""Every state-changing form of the web UI carries its CSRF token (a form without it is refused with 403)."""

from __future__ import annotations

import re
from pathlib import Path

import lockgate

TEMPLATES = Path(lockgate.__file__).parent / "server" / "templates"
FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S | re.I)


def test_every_post_form_but_the_login_carries_the_csrf_field() -> None:
    missing = []
    for template in sorted(TEMPLATES.glob("*.html")):
        for form in FORM.findall(template.read_text()):
            opening = form.split(">", 1)[0]
            if 'method="post"' not in opening.lower() or 'action="/ui/login"' in opening:
                continue
            if 'name="csrf_token"' not in form:
                missing.append(f"{template.name}: {opening}>")
    assert missing == []
