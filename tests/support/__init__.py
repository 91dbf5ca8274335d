"""Helpers shared by the test suites (no fixtures: those live in the conftest files).

``ports`` a free loopback port, ``canary`` the one canary pupil, ``ci`` whether CI=true,
``unit`` helpers of the unit tests, ``bot`` the bot started as `make run` does it,
``cluster`` the cluster profile and private PostgreSQL/Redis servers,
``widget_client`` a socket.io client for the widget channel."""
