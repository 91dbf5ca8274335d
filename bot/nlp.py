"""The Dutch spaCy provider.

spaCy's trained Dutch pipeline ``nl_core_news_sm`` (3.4.x) is used when it is installed.
When it is not (no registry reachable here serves it), the project builds its own
*Dutch base pipeline* from spaCy's Dutch language data: ``spacy.blank("nl")`` with the
lookup lemmatizer from spacy-lookups-data. That pipeline is called ``nl_lwoo_base`` and
is never presented as nl_core_news_sm.

``python -m bot spacy-setup`` builds it; Rasa loads it through ``bot.spacy_provider.SpacyNLP``
(named in config.yml), which logs which pipeline it runs.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

TRAINED_PIPELINE = "nl_core_news_sm"
TRAINED_PIPELINE_VERSION = "3.4"
FALLBACK_NAME = "nl_lwoo_base"


def fallback_dir() -> Path:
    """Where the project-built Dutch base pipeline lives (a build product, not committed)."""
    from core.settings import get_settings

    return get_settings().spacy_fallback_dir


def trained_pipeline_installed() -> bool:
    """True when nl_core_news_sm 3.4.x is importable in this environment."""
    if importlib.util.find_spec(TRAINED_PIPELINE) is None:
        return False
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(TRAINED_PIPELINE).startswith(TRAINED_PIPELINE_VERSION)
    except PackageNotFoundError:
        return False


def resolve_pipeline() -> tuple[str, str]:
    """Return ``(name_or_path, human description)`` of the pipeline to load."""
    from core.settings import get_settings

    chosen = get_settings().spacy_pipeline
    if chosen:
        return chosen, f"{chosen} (set by SPACY_PIPELINE)"
    if trained_pipeline_installed():
        return TRAINED_PIPELINE, f"spaCy's trained Dutch pipeline {TRAINED_PIPELINE}"
    path = fallback_dir()
    if not (path / "meta.json").exists():
        raise RuntimeError(
            f"No Dutch spaCy pipeline: {TRAINED_PIPELINE} is not installed and the Dutch base "
            f"pipeline is missing at {path}. Run `make setup` (python -m bot spacy-setup)."
        )
    return str(path), (
        f"the project's Dutch base pipeline {FALLBACK_NAME} (blank nl + lookup lemmas)"
    )


def build_fallback(target: Path | None = None) -> Path:
    """Build the Dutch base pipeline from spaCy's own Dutch language data."""
    import spacy

    target = target or fallback_dir()
    nlp = spacy.blank("nl")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    nlp.meta["name"] = FALLBACK_NAME.removeprefix("nl_")
    nlp.meta["version"] = "1.0.0"
    nlp.meta["description"] = (
        "Dutch base pipeline built by LWOO-assistent from spaCy's Dutch language data "
        "(spacy.blank('nl') + lookup lemmatizer from spacy-lookups-data). "
        "Not nl_core_news_sm."
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(target)
    return target


def try_install_trained(timeout: float = 20.0) -> bool:
    """Try once, quickly, to install nl_core_news_sm 3.4.0; return whether it is installed."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "spacy", "download", f"{TRAINED_PIPELINE}-3.4.0", "--direct"]
    try:
        subprocess.run(  # noqa: S603 - fixed argv, no shell
            cmd, timeout=timeout, check=True, capture_output=True,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_RETRIES": "0",
                 "PIP_TIMEOUT": "5"},
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        return False
    importlib.invalidate_caches()
    return trained_pipeline_installed()


def setup(try_download: bool = True) -> str:
    """Make sure a Dutch pipeline is available; return a one-line report."""
    if trained_pipeline_installed():
        return f"spaCy: {TRAINED_PIPELINE} is installed and will be used."
    if try_download and try_install_trained():
        return f"spaCy: installed {TRAINED_PIPELINE} 3.4.0 and will use it."
    path = fallback_dir()
    if not (path / "meta.json").exists():
        build_fallback(path)
    return (
        f"spaCy: {TRAINED_PIPELINE} 3.4.0 could not be installed here (no registry serves it); "
        f"using the project's Dutch base pipeline {FALLBACK_NAME} at {path} "
        "(spaCy's Dutch tokenizer + lookup lemmatizer)."
    )

