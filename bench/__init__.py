"""Benchmarks for the LWOO-assistent: NLU accuracy and REST-channel speed, side by side.

``python -m bench [--quick]`` (``make bench``) trains once into a temporary directory
and writes ``bench/reports/latest.md`` with PNG plots. Modules:

* :mod:`bench.nlu` — data snapshot, folds, pipeline configs, the TF-IDF baseline, metrics;
* :mod:`bench.worker` — trains and evaluates Rasa NLU models in a separate process;
* :mod:`bench.server` — starts the action server + Rasa with the bench model;
* :mod:`bench.load` — asyncio/aiohttp load over the REST channel (loopback only);
* :mod:`bench.report` — the Markdown report and the plots;
* :mod:`bench.cli` — the whole run.
"""
