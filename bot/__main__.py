"""``python -m bot <command>`` — the project's operational commands.

Each command imports only what it needs, so ``--help`` and the light commands stay fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence


def _spacy_setup(args: argparse.Namespace) -> int:
    from bot.nlp import setup

    print(setup(try_download=not args.no_download), flush=True)
    return 0


def _import_pupils(args: argparse.Namespace) -> int:
    from bot.admin import import_pupils_command

    return import_pupils_command(args.file, dry_run=args.dry_run)


def _audit(args: argparse.Namespace) -> int:
    from bot.admin import audit_command

    return audit_command(args.since)


def _purge(args: argparse.Namespace) -> int:
    from bot.admin import purge_command

    return purge_command(args.older_than)


def _review(args: argparse.Namespace) -> int:
    from bot.review import review_command

    return review_command(args.since, args.out, low_confidence=args.low_confidence)


def _callbacks(args: argparse.Namespace) -> int:
    from bot.callbacks import callbacks_command

    return callbacks_command(args.since, args.resend)


def _check_content(args: argparse.Namespace) -> int:
    from bot.content_check import check_content_command

    return check_content_command(args.answers, args.facts, validate=not args.skip_validate)


def _translations(args: argparse.Namespace) -> int:
    from bot.translations import translations_command

    return translations_command(args.action, args.language, args.source, verbose=args.all)


def _init(args: argparse.Namespace) -> int:
    from core.settings import ensure_key_files
    from core.texts import staff_text

    for path in ensure_key_files():
        print(staff_text("init.key_present", path=path))
    return 0


def _run(args: argparse.Namespace) -> int:
    from bot.run import run_command

    return run_command(in_terminal=False)


def _shell(args: argparse.Namespace) -> int:
    from bot.run import run_command

    return run_command(in_terminal=True)


def _actions(args: argparse.Namespace) -> int:
    from bot.run import serve_actions

    serve_actions()
    return 0


def _cluster(args: argparse.Namespace) -> int:
    from bot.cluster import cluster_command

    return cluster_command(args.action, demo_pupils=args.demo_pupils)


def _nlu_eval(args: argparse.Namespace) -> int:
    from bot.nlu_eval import nlu_eval_command

    return nlu_eval_command(
        model=args.model, data=args.data, out=args.out,
        min_intent=args.min_intent, min_faq=args.min_faq, min_not_lwoo=args.min_not_lwoo,
        training=args.training or None,
        min_language_faq=args.min_language_faq,
        min_language_not_lwoo=args.min_language_not_lwoo,
        min_language_oos=args.min_language_oos,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="LWOO-assistent commands")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help_: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    add("init", _init, "set-up: random keys in VAR_DIR for HASH_SECRET and "
        "ACTION_SERVER_TOKEN when the environment does not set them")

    p = add("spacy-setup", _spacy_setup,
            "install nl_core_news_sm or build the Dutch base pipeline")
    p.add_argument("--no-download", action="store_true",
                   help="do not try to install nl_core_news_sm")

    p = add("import-pupils", _import_pupils, "import the school's pupil export (semicolon CSV)")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="validate only, change nothing")

    p = add("audit", _audit, "print the verification audit trail")
    p.add_argument("--since", default="7d", help="period, e.g. 7d, 24h (default 7d)")

    p = add("purge", _purge, "delete old conversations, codes and callback requests")
    p.add_argument("--older-than", default="30d", help="age, e.g. 30d (default 30d)")

    p = add("review", _review,
            "report for staff: unclear questions, feedback, topics, channels (HTML + CSV)")
    p.add_argument("--since", default="7d", help="period, e.g. 7d, 24h, 2w (default 7d)")
    p.add_argument("--out", default=None,
                   help="folder for report.html, the charts and CSVs (default var/reports/…)")
    p.add_argument("--low-confidence", type=float, default=0.7,
                   help="answers below this confidence count as unclear (default 0.7)")

    p = add("callbacks", _callbacks, "list parents' callback requests; --resend unmailed ones")
    p.add_argument("--since", default="7d", help="period, e.g. 7d, 24h (default 7d)")
    p.add_argument("--resend", action="store_true",
                   help="mail the care desk every request that was not mailed yet")

    p = add("check-content", _check_content,
            "check that every FAQ answer keeps its required facts and the data validates")
    p.add_argument("--answers", default=None, help="answers file (default data/answers/faq.yml)")
    p.add_argument("--facts", default=None,
                   help="checklist (default data/answers/required_facts.yml)")
    p.add_argument("--skip-validate", action="store_true",
                   help="only check the facts, not `rasa data validate`")

    p = add("translations", _translations,
            "translations: export a file to fill in, or the status per language")
    p.add_argument("action", choices=["export", "status"])
    p.add_argument("language", nargs="?", default=None)
    p.add_argument("source", nargs="?", default=None)
    p.add_argument("--all", action="store_true", help="status: also list missing and concept")

    add("run", _run, "start the action server and Rasa (what `make run` does)")
    add("shell", _shell, "start the action server and rasa shell on 127.0.0.1")
    add("actions", _actions, "start only the action server on ACTIONS_HOST:ACTIONS_PORT")

    p = add("cluster", _cluster,
            "cluster profile on loopback: N nodes + nginx (docs/cluster.md)")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--demo-pupils", action="store_true",
                   help="start: import the demo pupils into the cluster's records database")

    p = add("nlu-eval", _nlu_eval, "evaluate the NLU model on a held-out test set (a folder "
            "with its languages/ folder: the Dutch gates on the Dutch examples, the "
            "language gates per other language)")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", default="var/results/nlu")
    p.add_argument("--min-intent", type=float, default=0.95)
    p.add_argument("--min-faq", type=float, default=0.95)
    p.add_argument("--min-not-lwoo", type=float, default=0.0,
                   help="neighbour + out-of-scope examples never given a lwoo answer")
    p.add_argument("--min-language-faq", type=float, default=0.0,
                   help="per language other than Dutch (issue 16): FAQ-answer accuracy")
    p.add_argument("--min-language-not-lwoo", type=float, default=0.0,
                   help="per language other than Dutch: neighbour + out of scope without "
                        "a lwoo answer")
    p.add_argument("--min-language-oos", type=float, default=0.0,
                   help="per language other than Dutch: out-of-scope questions that got "
                        "the intent out_of_scope")
    p.add_argument("--training", default="data/nlu",
                   help="training data: a held-out example found there fails ('' = no check)")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
