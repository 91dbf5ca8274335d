"""``python -m bot.launcher <rasa arguments>``: Rasa's own command line with this
project's patches applied first (:mod:`bot.compat`).

Every Rasa process of the project starts here: ``python -m bot run`` and ``shell`` (via
:func:`bot.run.rasa_command`), the cluster nodes, the benchmarks' servers and
``make test-conversations``. A Rasa other than the pinned release is refused with exit
code 3 before anything starts.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

VERSION_REFUSED = 3


def main(argv: Sequence[str]) -> int:
    from bot import compat

    try:
        compat.apply()
    except compat.RasaVersionMismatch as exc:
        print(exc, file=sys.stderr)
        return VERSION_REFUSED
    import rasa.__main__

    sys.argv = ["rasa", *argv]
    rasa.__main__.main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
