"""The dashboard's files as versioned for serving (app/api/dashboard.py): each module's imports
pinned to the imported modules' versions, so that a module cached for good is never stale."""

from __future__ import annotations

import pytest

from app.api.dashboard import versioned

ENTRY = b'import { drawPanel } from "./panel.js";\ndrawPanel();\n'
PANEL = b'import { fmt } from "./format.js";\nexport const drawPanel = () => fmt(1);\n'
FORMAT = b"export const fmt = (n) => String(n);\n"
STYLE = b"body { margin: 0; }\n"


def sources(format_js: bytes = FORMAT) -> dict[str, bytes]:
    return {
        "entry.js": ENTRY,
        "panel.js": PANEL,
        "format.js": format_js,
        "style.css": STYLE,
    }


def test_a_change_to_a_module_changes_the_version_of_every_module_that_reaches_it() -> None:
    before = versioned(sources())
    assert (
        before["entry.js"]
        .body.decode()
        .startswith(f'import {{ drawPanel }} from "./panel.js?v={before["panel.js"].version}";')
    )
    assert f'from "./format.js?v={before["format.js"].version}"' in before["panel.js"].body.decode()
    assert before["format.js"].body == FORMAT
    assert {name: asset.media_type for name, asset in before.items()} == {
        "entry.js": "text/javascript",
        "panel.js": "text/javascript",
        "format.js": "text/javascript",
        "style.css": "text/css",
    }

    after = versioned(sources(b"export const fmt = (n) => `${n}`;\n"))
    # The page names the entry by its version: a new one, so the browser loads the new modules.
    for name in ("format.js", "panel.js", "entry.js"):
        assert after[name].version != before[name].version, name
    assert after["style.css"] == before["style.css"]
    # Same content, same versions: a cached module is reused while it is unchanged.
    assert versioned(sources()) == before


@pytest.mark.parametrize(
    ("format_js", "refusal"),
    [
        (b'import "./entry.js";\n', "in a cycle: entry.js -> panel.js -> format.js -> entry.js"),
        (b'import { x } from "./missing.js";\n', "format.js imports missing.js, which is not"),
    ],
)
def test_a_cycle_or_an_import_of_no_served_file_is_refused(format_js: bytes, refusal: str) -> None:
    with pytest.raises(RuntimeError, match=refusal):
        versioned(sources(format_js))
