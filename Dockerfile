# E3D Explorer: the dashboard (hosted demo from the shipped precomputed tables, live CPU uploads).
#   docker build -t e3d-explorer .  &&  docker run -p 8501:8501 e3d-explorer
# CPU-only torch from PyTorch's CPU index (the default PyPI wheel is a multi-GB CUDA build).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends libxrender1 libxext6 curl \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 e3d
WORKDIR /home/e3d/app
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY --chown=e3d:e3d requirements.txt pyproject.toml README.md ./
COPY --chown=e3d:e3d e3d ./e3d
RUN grep -v '^torch==' requirements.txt > /tmp/req.txt && pip install -r /tmp/req.txt && pip install --no-deps -e .
COPY --chown=e3d:e3d app ./app
COPY --chown=e3d:e3d .streamlit ./.streamlit
COPY --chown=e3d:e3d precomputed ./precomputed
COPY --chown=e3d:e3d configs ./configs
COPY --chown=e3d:e3d docs ./docs
USER e3d
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD curl -fsS http://localhost:8501/_stcore/health || exit 1
CMD ["streamlit", "run", "app/main.py", "--server.port=8501", "--server.address=0.0.0.0"]
