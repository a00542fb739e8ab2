FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY decoders decoders
COPY timeseries timeseries
COPY simulator simulator
COPY features features
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT ["python", "-m"]
CMD ["gateway", "run"]
