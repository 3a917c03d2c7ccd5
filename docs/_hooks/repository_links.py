"""MkDocs hook: links from the docs to files of the repository outside ``docs/``.

The pages link to scenario files and examples (``../scenarios/msl_exodus.toml``), which are
right on GitHub and in a checkout but are not pages of the site. This hook checks that each
such target exists in the repository (a missing one fails the build, like a broken link
between pages) and turns the link into the file's repository path in code font, so the site
has no dead link. Links between pages, and their anchors, are checked by MkDocs itself
(``strict: true`` and ``validation`` in mkdocs.yml).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(((?:\.\./)+[^)#\s]+)(#[^)]*)?\)")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Check and rewrite the page's links to repository files outside ``docs/``."""
    docs = Path(config["docs_dir"]).resolve()
    root = docs.parent
    here = (docs / page.file.src_path).parent

    def replace(match: re.Match[str]) -> str:
        text, target = match.group(1), match.group(2)
        resolved = (here / target).resolve()
        if resolved.is_relative_to(docs):
            return match.group(0)  # a page or a file of the site: MkDocs checks it
        if not resolved.is_relative_to(root) or not resolved.exists():
            raise PluginError(
                f"{page.file.src_path}: link to {target!r}, which is not in the repository"
            )
        path = resolved.relative_to(root).as_posix() + ("/" if resolved.is_dir() else "")
        return text if text.strip("`") == path.rstrip("/") else f"{text} (`{path}`)"

    return LINK.sub(replace, markdown)
