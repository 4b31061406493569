"""Network Pulse: streaming graph analysis of GitHub events with Apache Beam.

The repository root is the import package `pulse` (package_dir maps it), so `pulse.io`
never shadows the standard `io`. Beam ships this package to Flink and Dataflow workers with
--setup_file ./setup.py.
"""
import os

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
SUBPACKAGES = ["pipeline", "transforms", "io", "io.stores", "schemas", "firehose", "ui"]

setup(
    name="network-pulse",
    version="0.1.0",
    description="Connected components of GitHub user interactions over sliding "
                "event-time windows, as an Apache Beam pipeline",
    python_requires=">=3.10",
    packages=["pulse"] + [f"pulse.{p}" for p in SUBPACKAGES],
    package_dir={"pulse": "."},
    # ui/static/vendor/ is made by `npm ci && npm run vendor` in ui/ (not committed).
    package_data={"pulse.schemas": ["*.avsc"],
                  "pulse.ui": ["static/*.html", "static/*.js", "static/*.css",
                               "static/vendor/*.js"]},
    install_requires=[
        "apache-beam[gcp,aws]>=2.77,<2.78",
        "fastavro>=1.9",
        "isal>=1.6",   # io/avro_records.py: inflating deflate blocks
        "orjson>=3.9",
        "rethinkdb>=2.4.10",
        "confluent-kafka>=2.5",
        "Flask>=3.0",
        "Flask-SocketIO>=5.3",
        "Flask-Compress>=1.14",   # ui/server.py: a week's window summaries gzipped
        "simple-websocket>=1.0",   # WebSocket transport for Flask-SocketIO's threading mode
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "hypothesis>=6",   # tests/test_properties.py
            "networkx>=3.2",
            "scipy>=1.11",
            "moto[server]>=5",
            "gcp-storage-emulator>=2024.8.3",
            "selenium>=4.20",   # drives Debian's chromium + chromedriver in tests/test_ui.py
        ],
        # bench/peer.py and bench/vs_peer.py: the hand-written polars + scipy peer
        # (polars reads Avro itself: pl.read_avro).
        "bench": [
            "polars>=1.0",
            "scipy>=1.11",
            "numpy>=1.24",
        ],
    },
    entry_points={"console_scripts": ["pulse = pulse.cli:main"]},
)
