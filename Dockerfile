# The image of docker-compose.yml's Flink services: Flink 2.3 (Java 17) with Python 3.11 and
# pyflink-triton. The JobManager, the TaskManagers (whose Python workers run the Triton UDFs) and
# the job submitter all run it.   docker build -t pyflink-triton:0.1.0 .
FROM flink:2.3.0-scala_2.12-java17

# The Flink image is Ubuntu 22.04 (eclipse-temurin:17-jre-jammy): its python3.11 matches the
# package's requires-python, and the system's python3 (3.10) is left alone.
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3.11 python3.11-venv; \
    rm -rf /var/lib/apt/lists/*

# The sources and the examples, where docker-compose.yml's submitter runs `pyflink-triton run sql/...`.
WORKDIR /opt/pyflink-triton
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY pyflink_triton/ pyflink_triton/
COPY model_repository/ model_repository/
COPY sql/ sql/

# Installed as the README installs it: a Python 3.11 virtual environment and `pip install` of the
# package (its runtime dependencies; no `server` extra: Triton is a service of its own). The image's
# Flink version goes in first, so the package keeps it (it takes apache-flink 1.20 to 2.3).
# Flink's client and workers use this Python (python.executable in docker-compose.yml).
RUN set -eux; \
    python3.11 -m venv /opt/venv; \
    /opt/venv/bin/pip install --no-cache-dir --upgrade pip; \
    /opt/venv/bin/pip install --no-cache-dir apache-flink==2.3.0; \
    /opt/venv/bin/pip install --no-cache-dir /opt/pyflink-triton; \
    rm -rf /opt/pyflink-triton/build /opt/pyflink-triton/*.egg-info; \
    /opt/venv/bin/pyflink-triton --version
ENV PATH=/opt/venv/bin:$PATH
